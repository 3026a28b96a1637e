package dev.qcow2.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A hand-driven NBD client for the hostile-client tests: it sends exactly the bytes a test asks for
 * and reads the server's answers field by field. Every read has a socket timeout.
 */
final class RawClient implements AutoCloseable {
  final Socket socket;
  final DataInputStream in;
  final DataOutputStream out;

  /** An option reply's header and data. */
  record OptionReply(long magic, int option, int type, byte[] data) {}

  /** A transmission reply: simple (type -1) or one structured chunk. */
  record Reply(int magic, int flags, int type, long cookie, int error, byte[] data) {}

  RawClient(int port) throws IOException {
    socket = new Socket(InetAddress.getLoopbackAddress(), port);
    socket.setSoTimeout(20_000);
    in = new DataInputStream(socket.getInputStream());
    out = new DataOutputStream(socket.getOutputStream());
  }

  /** Reads the greeting and answers with fixed newstyle and no zeroes. */
  RawClient greet() throws IOException {
    assertEquals(Nbd.NBDMAGIC, in.readLong());
    assertEquals(Nbd.IHAVEOPT, in.readLong());
    assertEquals(Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES, in.readUnsignedShort());
    out.writeInt(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES);
    out.flush();
    return this;
  }

  void option(int option, byte[] data) throws IOException {
    out.writeLong(Nbd.IHAVEOPT);
    out.writeInt(option);
    out.writeInt(data.length);
    out.write(data);
    out.flush();
  }

  OptionReply optionReply() throws IOException {
    long magic = in.readLong();
    int option = in.readInt();
    int type = in.readInt();
    byte[] data = new byte[in.readInt()];
    in.readFully(data);
    return new OptionReply(magic, option, type, data);
  }

  /**
   * Negotiates structured replies (if asked) and enters transmission with NBD_OPT_GO on {@code
   * name}.
   */
  RawClient go(String name, boolean structured) throws IOException {
    greet();
    if (structured) {
      option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
      assertEquals(Nbd.REP_ACK, optionReply().type());
    }
    return enter(name);
  }

  /** NBD_OPT_GO on {@code name}, after whatever options the test sent: into transmission. */
  RawClient enter(String name) throws IOException {
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    option(
        Nbd.OPT_GO,
        ByteBuffer.allocate(6 + n.length).putInt(n.length).put(n).putShort((short) 0).array());
    while (true) {
      OptionReply r = optionReply();
      if (r.type() == Nbd.REP_ACK) {
        return this;
      }
      assertEquals(Nbd.REP_INFO, r.type(), "reply to NBD_OPT_GO");
    }
  }

  /**
   * NBD_OPT_LIST_META_CONTEXT or NBD_OPT_SET_META_CONTEXT on export "" with {@code queries}: each
   * context replied as "ID NAME", in order, until NBD_REP_ACK.
   */
  List<String> metaContexts(int option, String... queries) throws IOException {
    ByteArrayOutputStream data = new ByteArrayOutputStream();
    DataOutputStream d = new DataOutputStream(data);
    d.writeInt(0);
    d.writeInt(queries.length);
    for (String q : queries) {
      byte[] b = q.getBytes(StandardCharsets.UTF_8);
      d.writeInt(b.length);
      d.write(b);
    }
    option(option, data.toByteArray());
    List<String> contexts = new ArrayList<>();
    for (OptionReply r = optionReply(); r.type() != Nbd.REP_ACK; r = optionReply()) {
      assertEquals(Nbd.REP_META_CONTEXT, r.type(), "reply to option " + option);
      ByteBuffer b = ByteBuffer.wrap(r.data());
      int id = b.getInt();
      contexts.add(id + " " + StandardCharsets.UTF_8.decode(b));
    }
    return contexts;
  }

  void request(int flags, int type, long cookie, long offset, long length) throws IOException {
    out.writeInt(Nbd.REQUEST_MAGIC);
    out.writeShort(flags);
    out.writeShort(type);
    out.writeLong(cookie);
    out.writeLong(offset);
    out.writeInt((int) length);
    out.flush();
  }

  /**
   * Reads one reply; {@code readLength} is the data a simple reply to a successful read carries.
   */
  Reply reply(int readLength) throws IOException {
    int magic = in.readInt();
    if (magic == Nbd.SIMPLE_REPLY_MAGIC) {
      int error = in.readInt();
      long cookie = in.readLong();
      byte[] data = new byte[error == 0 ? readLength : 0];
      in.readFully(data);
      return new Reply(magic, 0, -1, cookie, error, data);
    }
    assertEquals(Nbd.STRUCTURED_REPLY_MAGIC, magic, "reply magic");
    int flags = in.readUnsignedShort();
    int type = in.readUnsignedShort();
    long cookie = in.readLong();
    byte[] data = new byte[in.readInt()];
    in.readFully(data);
    int error = (type & 0x8000) != 0 ? ByteBuffer.wrap(data).getInt() : 0;
    return new Reply(magic, flags, type, cookie, error, data);
  }

  /** Whether the server has closed the connection: the next read finds the end of the stream. */
  boolean closedByServer() throws IOException {
    try {
      return in.read() < 0;
    } catch (java.net.SocketException e) {
      return true; // reset by the server
    }
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
