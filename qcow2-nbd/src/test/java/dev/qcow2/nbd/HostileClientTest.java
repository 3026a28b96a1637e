package dev.qcow2.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Clients that misbehave, against a writable server taking four clients at once: each gets the
 * protocol's error or is disconnected, and after each the server still serves the right bytes to a
 * well-behaved client (nbdcopy), and the image stays {@code qemu-img check} clean.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class HostileClientTest {
  @TempDir Path dir;
  private Path image;
  private byte[] expected;
  private Served served;

  @BeforeEach
  void serve() throws IOException {
    image = Samples.qcow2(dir, "a.qcow2", "zlib");
    Tools.run(dir, "qemu-img", "convert", "-O", "raw", image.toString(), "expected.raw");
    expected = Files.readAllBytes(dir.resolve("expected.raw"));
    served =
        Served.writable(
            image, ServerOptions.builder().maxConnections(4).handshakeLimit(Duration.ofSeconds(2)));
  }

  @AfterEach
  void stop() throws IOException {
    served.close();
    String check = Tools.run(dir, "qemu-img", "check", image.toString());
    assertTrue(check.contains("No errors were found on the image."), check);
  }

  /** A well-behaved client still reads the whole disk right. */
  private void assertStillServing() throws IOException {
    Files.deleteIfExists(dir.resolve("copy.raw"));
    Tools.run(dir, "nbdcopy", served.uri(), "copy.raw");
    assertEquals(-1, Files.mismatch(dir.resolve("expected.raw"), dir.resolve("copy.raw")));
  }

  private int port() {
    return served.server.port();
  }

  @Test
  void garbage_in_the_handshake_is_disconnected() throws Exception {
    try (RawClient c = new RawClient(port())) {
      assertEquals(Nbd.NBDMAGIC, c.in.readLong());
      c.in.readLong();
      c.in.readUnsignedShort();
      byte[] junk = new byte[4096];
      new Random(1).nextBytes(junk);
      c.out.write(junk);
      c.out.flush();
      assertTrue(c.closedByServer());
    }
    try (RawClient c = new RawClient(port()).greet()) {
      c.out.writeLong(0x1122334455667788L); // not IHAVEOPT
      c.out.writeLong(0);
      c.out.flush();
      assertTrue(c.closedByServer());
    }
    assertStillServing();
  }

  @Test
  void an_option_longer_than_the_limit_gets_too_big_and_is_disconnected() throws Exception {
    try (RawClient c = new RawClient(port()).greet()) {
      c.out.writeLong(Nbd.IHAVEOPT);
      c.out.writeInt(Nbd.OPT_GO);
      c.out.writeInt(1 << 30);
      c.out.write(new byte[8192]);
      c.out.flush();
      RawClient.OptionReply r = c.optionReply();
      assertEquals(Nbd.REPLY_MAGIC, r.magic());
      assertEquals(Nbd.REP_ERR_TOO_BIG, r.type());
      assertTrue(c.closedByServer());
    }
    assertStillServing();
  }

  @Test
  void malformed_options_get_errors_and_the_handshake_goes_on() throws Exception {
    try (RawClient c = new RawClient(port()).greet()) {
      c.option(
          Nbd.OPT_GO,
          ByteBuffer.allocate(8).putInt(1000).putInt(0).array()); // name runs past the end
      assertEquals(Nbd.REP_ERR_INVALID, c.optionReply().type());
      c.option(Nbd.OPT_SET_META_CONTEXT, new byte[0]); // before structured replies
      assertEquals(Nbd.REP_ERR_INVALID, c.optionReply().type());
      c.option(
          Nbd.OPT_INFO,
          ByteBuffer.allocate(9).putInt(3).put("nop".getBytes()).putShort((short) 0).array());
      assertEquals(Nbd.REP_ERR_UNKNOWN, c.optionReply().type());
      c.option(4242, new byte[10]);
      assertEquals(Nbd.REP_ERR_UNSUP, c.optionReply().type());
      c.option(Nbd.OPT_ABORT, new byte[0]);
      assertEquals(Nbd.REP_ACK, c.optionReply().type());
      assertTrue(c.closedByServer());
    }
    assertStillServing();
  }

  @Test
  void a_read_of_64_MiB_is_refused_and_the_connection_goes_on() throws Exception {
    for (boolean structured : new boolean[] {false, true}) {
      try (RawClient c = new RawClient(port()).go("", structured)) {
        c.request(0, Nbd.CMD_READ, 1, 0, 64 << 20);
        RawClient.Reply r = c.reply(0);
        assertEquals(1, r.cookie());
        assertEquals(Nbd.EOVERFLOW, r.error());
        c.request(0, Nbd.CMD_READ, 2, 4096, 4096);
        assertArrayEquals(
            java.util.Arrays.copyOfRange(expected, 4096, 8192),
            readData(c, 2, 4096, 4096, structured));
      }
    }
    assertStillServing();
  }

  /** The data of a read's reply, simple or structured (data and hole chunks reassembled). */
  private static byte[] readData(
      RawClient c, long cookie, long offset, int length, boolean structured) throws IOException {
    byte[] out = new byte[length];
    while (true) {
      RawClient.Reply r = c.reply(length);
      assertEquals(cookie, r.cookie());
      assertEquals(0, r.error());
      if (!structured) {
        return r.data();
      }
      ByteBuffer b = ByteBuffer.wrap(r.data());
      if (r.type() == Nbd.REPLY_TYPE_OFFSET_DATA) {
        long at = b.getLong();
        b.get(out, (int) (at - offset), b.remaining());
      } else {
        assertTrue(
            r.type() == Nbd.REPLY_TYPE_OFFSET_HOLE || r.type() == Nbd.REPLY_TYPE_NONE,
            "chunk " + r.type());
      }
      if ((r.flags() & Nbd.REPLY_FLAG_DONE) != 0) {
        return out;
      }
    }
  }

  @Test
  void offsets_past_the_end_are_refused() throws Exception {
    try (RawClient c = new RawClient(port()).go("", false)) {
      long size = Samples.SIZE;
      c.request(0, Nbd.CMD_READ, 1, size, 512);
      assertEquals(Nbd.EINVAL, c.reply(0).error());
      c.request(0, Nbd.CMD_READ, 2, size - 512, 1024);
      assertEquals(Nbd.EINVAL, c.reply(0).error());
      c.request(0, Nbd.CMD_READ, 3, -4096L, 512); // 2^64 - 4096, unsigned
      assertEquals(Nbd.EINVAL, c.reply(0).error());
      c.request(0, Nbd.CMD_WRITE, 4, size, 512);
      c.out.write(new byte[512]);
      c.out.flush();
      assertEquals(Nbd.ENOSPC, c.reply(0).error());
      c.request(0, Nbd.CMD_WRITE_ZEROES, 5, size - 512, 4096);
      assertEquals(Nbd.ENOSPC, c.reply(0).error());
      c.request(0, 99, 6, 0, 0); // no such command
      assertEquals(Nbd.EINVAL, c.reply(0).error());
      c.request(0x8000, Nbd.CMD_FLUSH, 7, 0, 0); // no such flag
      assertEquals(Nbd.EINVAL, c.reply(0).error());
    }
    assertStillServing();
  }

  @Test
  void writes_to_a_read_only_export_get_eperm() throws Exception {
    try (Served ro =
            Served.readOnly(image.resolveSibling("a.qcow2.src.raw"), ServerOptions.builder());
        RawClient c = new RawClient(ro.server.port()).go("", false)) {
      c.request(0, Nbd.CMD_WRITE, 1, 0, 4096);
      c.out.write(new byte[4096]);
      c.out.flush();
      assertEquals(Nbd.EPERM, c.reply(0).error());
      c.request(0, Nbd.CMD_TRIM, 2, 0, 4096);
      assertEquals(Nbd.EPERM, c.reply(0).error());
      c.request(0, Nbd.CMD_WRITE_ZEROES, 3, 0, 4096);
      assertEquals(Nbd.EPERM, c.reply(0).error());
      c.request(0, Nbd.CMD_READ, 4, 0, 4096);
      assertEquals(0, c.reply(4096).error());
    }
    assertStillServing();
  }

  @Test
  void a_connection_dropped_mid_request_loses_nothing_else() throws Exception {
    try (RawClient c = new RawClient(port()).go("", true)) {
      c.request(0, Nbd.CMD_WRITE, 1, 1 << 20, 1 << 20);
      c.out.write(new byte[1000]); // and no more
      c.out.flush();
    }
    try (RawClient c = new RawClient(port()).go("", true)) {
      for (int i = 0; i < 50; i++) {
        c.request(0, Nbd.CMD_READ, i, (long) i << 16, 1 << 16); // replies never read
      }
    }
    assertStillServing();
  }

  @Test
  void a_silent_connection_is_dropped_after_the_handshake_limit() throws Exception {
    try (RawClient silent = new RawClient(port());
        RawClient greeted = new RawClient(port()).greet()) {
      assertEquals(Nbd.NBDMAGIC, silent.in.readLong());
      assertStillServing(); // while two clients sit in their handshakes
      long start = System.nanoTime();
      silent.in.readLong();
      silent.in.readUnsignedShort();
      assertTrue(silent.closedByServer());
      assertTrue(greeted.closedByServer());
      assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(15));
    }
    assertStillServing();
  }

  @Test
  void many_requests_in_flight_are_answered_by_cookie_in_any_order() throws Exception {
    try (RawClient c = new RawClient(port()).go("", false)) {
      Map<Long, Integer> offsets = new HashMap<>();
      Random r = new Random(7);
      for (long cookie = 0; cookie < 200; cookie++) {
        int at = r.nextInt(expected.length / 4096) * 4096;
        offsets.put(cookie, at);
        c.request(0, Nbd.CMD_READ, cookie, at, 4096);
      }
      // Twenty reads of 32 MiB would be 640 MiB at once: the bytes-in-flight limit makes the
      // server wait for the client instead of holding them all.
      for (long cookie = 200; cookie < 220; cookie++) {
        c.request(0, Nbd.CMD_READ, cookie, 0, Samples.SIZE);
      }
      for (int i = 0; i < 220; i++) {
        RawClient.Reply reply = c.reply(4096);
        if (reply.cookie() >= 200) {
          byte[] rest = new byte[(int) Samples.SIZE - 4096];
          c.in.readFully(rest);
          continue;
        }
        int at = offsets.remove(reply.cookie());
        assertArrayEquals(java.util.Arrays.copyOfRange(expected, at, at + 4096), reply.data());
      }
      assertTrue(offsets.isEmpty());
    }
  }

  @Test
  void a_fifth_client_waits_until_one_of_four_leaves() throws Exception {
    RawClient[] four = new RawClient[4];
    for (int i = 0; i < 4; i++) {
      four[i] = new RawClient(port()).go("", false);
    }
    try (Socket fifth = new Socket(InetAddress.getLoopbackAddress(), port())) {
      fifth.setSoTimeout(1000);
      assertThrows(java.net.SocketTimeoutException.class, () -> fifth.getInputStream().read());
      four[0].close();
      fifth.setSoTimeout(20_000);
      assertEquals(Nbd.NBDMAGIC, new java.io.DataInputStream(fifth.getInputStream()).readLong());
    } finally {
      for (RawClient c : four) {
        c.close();
      }
    }
  }

  private static void assertThrows(
      Class<? extends Throwable> type, org.junit.jupiter.api.function.Executable e) {
    org.junit.jupiter.api.Assertions.assertThrows(type, e);
  }
}
