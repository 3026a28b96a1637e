package dev.qcow2.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The fixed newstyle handshake, server side: greeting, client flags, then option haggling until the
 * client picks the export (NBD_OPT_GO or NBD_OPT_EXPORT_NAME) or leaves. Every option's length is
 * checked before its data is read, and every field inside it against the length, so a client can
 * make the server neither allocate more than {@code maxOptionLength} nor misread.
 */
final class Handshake {
  /** What the client chose, in force for the transmission phase. */
  record Session(boolean structuredReplies, List<MetaContext> contexts) {}

  /** Options per connection; the time limit bounds a handshake too, this bounds a fast client. */
  private static final int MAX_OPTIONS = 4096;

  private final Transport ch;
  private final Export export;
  private final int maxOptionLength;

  /** The TLS the server demands before anything but NBD_OPT_STARTTLS and NBD_OPT_ABORT, or null. */
  private final ServerOptions tlsOptions;

  private boolean noZeroes;
  private boolean structured;
  private List<MetaContext> selected = List.of();

  private Handshake(Transport ch, Export export, ServerOptions options) {
    this.ch = ch;
    this.export = export;
    this.maxOptionLength = options.maxOptionLength();
    this.tlsOptions = options.tlsContext() != null ? options : null;
  }

  /**
   * Runs the handshake on {@code ch}.
   *
   * @return the session, or null if the client ended the handshake with NBD_OPT_ABORT
   * @throws ProtocolException for a client the spec says to disconnect
   */
  static Session negotiate(Transport ch, Export export, ServerOptions options) throws IOException {
    return new Handshake(ch, export, options).run();
  }

  private Session run() throws IOException {
    ByteBuffer greeting =
        ByteBuffer.allocate(18)
            .putLong(Nbd.NBDMAGIC)
            .putLong(Nbd.IHAVEOPT)
            .putShort((short) (Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES))
            .flip();
    ch.writeFully(greeting);
    int clientFlags = ch.read(4).getInt();
    if ((clientFlags & ~(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES)) != 0) {
      // The spec: the server MUST close the connection on client flags it does not know.
      throw new ProtocolException("unknown client flags 0x" + Integer.toHexString(clientFlags));
    }
    noZeroes = (clientFlags & Nbd.FLAG_C_NO_ZEROES) != 0;
    for (int i = 0; i < MAX_OPTIONS; i++) {
      ByteBuffer head = ch.read(16);
      long magic = head.getLong();
      if (magic != Nbd.IHAVEOPT) {
        throw new ProtocolException(
            "option magic 0x" + Long.toHexString(magic) + ", expected IHAVEOPT");
      }
      int option = head.getInt();
      long length = head.getInt() & 0xffffffffL;
      if (length > maxOptionLength) {
        // Its data cannot be skipped cheaply: say why, then hang up.
        reply(
            option,
            Nbd.REP_ERR_TOO_BIG,
            "option "
                + option
                + " has "
                + length
                + " bytes of data, more than the "
                + maxOptionLength
                + " this server accepts");
        throw new ProtocolException("option " + option + " of " + length + " bytes is too long");
      }
      ByteBuffer data = ch.read((int) length);
      Session done = option(option, data);
      if (done != null) {
        return done.contexts() == null ? null : done;
      }
    }
    throw new ProtocolException("more than " + MAX_OPTIONS + " options");
  }

  /** Answers one option; a non-null result ends the handshake (null contexts: aborted). */
  private Session option(int option, ByteBuffer data) throws IOException {
    if (option == Nbd.OPT_STARTTLS && tlsOptions != null) {
      return startTls(data);
    }
    if (tlsOptions != null && !ch.tls() && option != Nbd.OPT_ABORT) {
      if (option == Nbd.OPT_EXPORT_NAME) {
        throw new ProtocolException("NBD_OPT_EXPORT_NAME before TLS, which this server requires");
      }
      reply(option, Nbd.REP_ERR_TLS_REQD, "this server requires TLS (NBD_OPT_STARTTLS) first");
      return null;
    }
    switch (option) {
      case Nbd.OPT_EXPORT_NAME -> {
        String name = string(data, data.remaining());
        if (name == null || !name.equals(export.name())) {
          // The spec leaves no way to refuse NBD_OPT_EXPORT_NAME but hanging up.
          throw new ProtocolException("no export named \"" + name + "\"");
        }
        ByteBuffer b =
            ByteBuffer.allocate(noZeroes ? 10 : 134)
                .putLong(export.size())
                .putShort((short) export.transmissionFlags());
        ch.writeFully(b.position(b.limit()).flip());
        return session();
      }
      case Nbd.OPT_ABORT -> {
        reply(option, Nbd.REP_ACK);
        return new Session(false, null);
      }
      case Nbd.OPT_LIST -> {
        if (data.hasRemaining()) {
          return invalid(option, "NBD_OPT_LIST takes no data");
        }
        byte[] name = utf8(export.name());
        byte[] description =
            export.description() == null ? new byte[0] : utf8(export.description());
        reply(
            option,
            Nbd.REP_SERVER,
            ByteBuffer.allocate(4 + name.length + description.length)
                .putInt(name.length)
                .put(name)
                .put(description)
                .flip());
        reply(option, Nbd.REP_ACK);
        return null;
      }
      case Nbd.OPT_INFO, Nbd.OPT_GO -> {
        return info(option, data);
      }
      case Nbd.OPT_STRUCTURED_REPLY -> {
        if (data.hasRemaining()) {
          return invalid(option, "NBD_OPT_STRUCTURED_REPLY takes no data");
        }
        if (structured) {
          return invalid(option, "structured replies are already on");
        }
        structured = true;
        reply(option, Nbd.REP_ACK);
        return null;
      }
      case Nbd.OPT_LIST_META_CONTEXT, Nbd.OPT_SET_META_CONTEXT -> {
        return metaContext(option, data);
      }
      default -> {
        // NBD_OPT_STARTTLS among them: this server has no TLS.
        reply(option, Nbd.REP_ERR_UNSUP, "option " + option + " is not supported");
        return null;
      }
    }
  }

  /** NBD_OPT_STARTTLS: acknowledged in the clear, then the TLS handshake on the same socket. */
  private Session startTls(ByteBuffer data) throws IOException {
    if (data.hasRemaining()) {
      return invalid(Nbd.OPT_STARTTLS, "NBD_OPT_STARTTLS takes no data");
    }
    if (ch.tls()) {
      return invalid(Nbd.OPT_STARTTLS, "TLS is already on");
    }
    reply(Nbd.OPT_STARTTLS, Nbd.REP_ACK);
    // Nothing was negotiated in the clear: every other option was refused until now.
    ch.startTls(tlsOptions.tlsContext(), tlsOptions.tlsVerifyPeer());
    return null;
  }

  /** NBD_OPT_INFO and NBD_OPT_GO: export name, then a count and list of 16-bit info requests. */
  private Session info(int option, ByteBuffer data) throws IOException {
    String name = prefixedString(data, 2);
    if (name == null || data.remaining() < 2) {
      return invalid(option, "malformed export name");
    }
    int count = data.getShort() & 0xffff;
    if (data.remaining() != 2 * count) {
      return invalid(
          option, "information request count " + count + " does not match the option's length");
    }
    boolean wantName = false;
    boolean wantDescription = false;
    for (int i = 0; i < count; i++) {
      int type = data.getShort() & 0xffff;
      wantName |= type == Nbd.INFO_NAME;
      wantDescription |= type == Nbd.INFO_DESCRIPTION;
    }
    if (!name.equals(export.name())) {
      reply(option, Nbd.REP_ERR_UNKNOWN, "no export named \"" + name + "\"");
      return null;
    }
    reply(
        option,
        Nbd.REP_INFO,
        ByteBuffer.allocate(12)
            .putShort((short) Nbd.INFO_EXPORT)
            .putLong(export.size())
            .putShort((short) export.transmissionFlags())
            .flip());
    if (wantName) {
      infoString(option, Nbd.INFO_NAME, export.name());
    }
    if (wantDescription && export.description() != null) {
      infoString(option, Nbd.INFO_DESCRIPTION, export.description());
    }
    reply(
        option,
        Nbd.REP_INFO,
        ByteBuffer.allocate(14)
            .putShort((short) Nbd.INFO_BLOCK_SIZE)
            .putInt(1)
            .putInt(export.preferredBlockSize())
            .putInt(Nbd.MAX_PAYLOAD)
            .flip());
    reply(option, Nbd.REP_ACK);
    return option == Nbd.OPT_GO ? session() : null;
  }

  private void infoString(int option, int type, String value) throws IOException {
    byte[] b = utf8(value);
    reply(
        option,
        Nbd.REP_INFO,
        ByteBuffer.allocate(2 + b.length).putShort((short) type).put(b).flip());
  }

  /**
   * LIST_META_CONTEXT and SET_META_CONTEXT: export name, then a count of queries, each
   * length-prefixed.
   */
  private Session metaContext(int option, ByteBuffer data) throws IOException {
    if (!structured) {
      return invalid(option, "metadata contexts need structured replies first");
    }
    String name = prefixedString(data, 4);
    if (name == null || data.remaining() < 4) {
      return invalid(option, "malformed export name");
    }
    long count = data.getInt() & 0xffffffffL;
    List<String> queries = new ArrayList<>();
    for (long i = 0; i < count; i++) {
      String q = prefixedString(data, 0);
      if (q == null) {
        return invalid(
            option, "query " + i + " of " + count + " is malformed or runs past the option's end");
      }
      queries.add(q);
    }
    if (data.hasRemaining()) {
      return invalid(option, data.remaining() + " bytes after the last query");
    }
    if (!name.equals(export.name())) {
      reply(option, Nbd.REP_ERR_UNKNOWN, "no export named \"" + name + "\"");
      return null;
    }
    // A list reply's context id is reserved: the spec says 0, and qemu-nbd sends 0.
    boolean list = option == Nbd.OPT_LIST_META_CONTEXT;
    List<MetaContext> chosen = new ArrayList<>();
    for (MetaContext c : export.contexts()) {
      if ((list && queries.isEmpty()) || queries.stream().anyMatch(q -> c.matches(q, list))) {
        chosen.add(c);
        byte[] b = utf8(c.name());
        reply(
            option,
            Nbd.REP_META_CONTEXT,
            ByteBuffer.allocate(4 + b.length).putInt(list ? 0 : c.id()).put(b).flip());
      }
    }
    if (option == Nbd.OPT_SET_META_CONTEXT) {
      selected = List.copyOf(chosen);
    }
    reply(option, Nbd.REP_ACK);
    return null;
  }

  private Session session() {
    return new Session(structured, structured ? selected : List.of());
  }

  private Session invalid(int option, String why) throws IOException {
    reply(option, Nbd.REP_ERR_INVALID, why);
    return null;
  }

  /**
   * A 32-bit length, then that many bytes of string; null if it does not fit in what is left with
   * {@code trailing} bytes to spare, or is longer than the spec allows a string to be.
   */
  private static String prefixedString(ByteBuffer data, int trailing) {
    if (data.remaining() < 4) {
      return null;
    }
    long n = data.getInt() & 0xffffffffL;
    if (n > Nbd.MAX_STRING || n > data.remaining() - trailing) {
      return null;
    }
    return string(data, (int) n);
  }

  /** {@code n} bytes of UTF-8 without NUL, or null. */
  private static String string(ByteBuffer data, int n) {
    if (n > Nbd.MAX_STRING) {
      return null;
    }
    ByteBuffer bytes = data.slice().limit(n);
    data.position(data.position() + n);
    try {
      String s =
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .decode(bytes)
              .toString();
      return s.indexOf('\0') >= 0 ? null : s;
    } catch (CharacterCodingException e) {
      return null;
    }
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private void reply(int option, int type) throws IOException {
    reply(option, type, ByteBuffer.allocate(0));
  }

  private void reply(int option, int type, String message) throws IOException {
    reply(option, type, ByteBuffer.wrap(utf8(message)));
  }

  private void reply(int option, int type, ByteBuffer data) throws IOException {
    ByteBuffer head =
        ByteBuffer.allocate(20)
            .putLong(Nbd.REPLY_MAGIC)
            .putInt(option)
            .putInt(type)
            .putInt(data.remaining())
            .flip();
    ch.writeFully(head, data);
  }
}
