package dev.qcow2.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Many small requests in flight at once, as qemu's and libnbd's clients send them: small reads
 * (which the connection's own thread serves when their data is stored plainly) mixed with writes,
 * zeroes and flushes (which the workers serve), replies in any order, against a model of the disk.
 * The image written is then read back by nbdcopy in 4 KiB requests over four connections, and must
 * pass {@code qemu-img check} and equal the model ({@code qemu-img compare}).
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class SmallRequestsTest {
  private static final int CLIENTS = 3;
  private static final int DEPTH = 16;
  private static final int REQUESTS = 800;

  @TempDir Path dir;

  /** A request in flight; a read's expected bytes, and what its structured chunks covered. */
  private record Sent(int type, long offset, int length, byte[] expected, byte[] got, int[] seen) {
    boolean overlaps(long at, int n) {
      return at < offset + length && offset < at + n;
    }
  }

  /**
   * Reads are never slow: the connections' threads serve every small read of plain data. Reads
   * always slow: those threads serve a few, then the workers the next many, and so on.
   */
  @ParameterizedTest(name = "{0} image, seed {1}, reads {2} slow")
  @CsvSource({"plain, 1, never", "plain, 2, always", "zlib, 3, never"})
  void small_reads_mixed_with_writes_on_three_connections_match_a_model(
      String kind, long seed, String slow) throws Exception {
    Path image = Samples.qcow2(dir, "a.qcow2", kind.equals("plain") ? null : kind);
    Tools.run(dir, "qemu-img", "convert", "-O", "raw", image.toString(), "model.raw");
    byte[] model = Files.readAllBytes(dir.resolve("model.raw"));
    int part = (int) (Samples.SIZE / CLIENTS) & ~4095;
    ServerOptions.Builder options =
        ServerOptions.builder()
            .maxConnections(4)
            .slowReadNanos(slow.equals("never") ? Long.MAX_VALUE : 0);
    try (Served s = Served.writable(image, options)) {
      ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
      try {
        List<Future<?>> done = new ArrayList<>();
        for (int i = 0; i < CLIENTS; i++) {
          int from = i * part;
          Random r = new Random(seed * 31 + i);
          boolean structured = i != 1;
          done.add(
              clients.submit(
                  () -> {
                    traffic(s.server.port(), structured, r, model, from, part);
                    return null;
                  }));
        }
        for (Future<?> f : done) {
          try {
            f.get(2, TimeUnit.MINUTES);
          } catch (ExecutionException e) {
            throw new AssertionError("seed " + seed + ": " + e.getCause(), e.getCause());
          }
        }
      } finally {
        clients.shutdownNow();
      }
      Files.write(dir.resolve("model.raw"), model);
      Tools.run(
          dir,
          "nbdcopy",
          "--request-size=4096",
          "--connections=4",
          "--requests=64",
          s.uri(),
          "copy.raw");
      long at = Files.mismatch(dir.resolve("model.raw"), dir.resolve("copy.raw"));
      assertEquals(-1, at, "seed " + seed + ": nbdcopy read other bytes at " + at);
    }
    assertCleanAndEqual(image, "seed " + seed);
  }

  @Test
  void requests_sent_before_a_disconnect_are_all_answered_before_the_server_hangs_up()
      throws Exception {
    Path image = Samples.qcow2(dir, "a.qcow2", null);
    Tools.run(dir, "qemu-img", "convert", "-O", "raw", image.toString(), "model.raw");
    byte[] model = Files.readAllBytes(dir.resolve("model.raw"));
    Map<Long, Sent> sent = new HashMap<>();
    ServerOptions.Builder options = ServerOptions.builder().slowReadNanos(Long.MAX_VALUE);
    try (Served s = Served.writable(image, options)) {
      try (RawClient c = new RawClient(s.server.port()).go("", false)) {
        // All in one write, so that the disconnect arrives with reads the server has not answered.
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(all);
        for (long cookie = 0; cookie < 128; cookie++) {
          int at = (int) (cookie << 16);
          boolean write = cookie % 2 == 0 && cookie < 64;
          header(out, write ? Nbd.CMD_WRITE : Nbd.CMD_READ, 0, cookie, at, 4096);
          if (write) {
            byte[] data = new byte[4096];
            Arrays.fill(data, (byte) (cookie + 1));
            out.write(data);
            System.arraycopy(data, 0, model, at, data.length);
            sent.put(cookie, new Sent(Nbd.CMD_WRITE, at, 4096, null, null, null));
          } else {
            sent.put(cookie, read(Nbd.CMD_READ, at, 4096, model));
          }
        }
        header(out, Nbd.CMD_DISC, 0, 128, 0, 0);
        c.out.write(all.toByteArray());
        c.out.flush();
        while (!sent.isEmpty()) {
          receive(c, sent, "disconnect");
        }
        assertTrue(c.closedByServer(), "the server hangs up once every request is answered");
      }
      Files.write(dir.resolve("model.raw"), model);
    }
    assertCleanAndEqual(image, "disconnect");
  }

  @Test
  void small_reads_among_large_ones_beyond_the_bytes_in_flight_limit_all_come_back_right()
      throws Exception {
    Path image = Samples.qcow2(dir, "a.qcow2", null);
    Tools.run(dir, "qemu-img", "convert", "-O", "raw", image.toString(), "model.raw");
    byte[] model = Files.readAllBytes(dir.resolve("model.raw"));
    // 6000 reads of 4 KiB and 24 of 1 MiB count 72 MiB in flight: more than the limit, so the
    // server must send the replies it holds and wait for the client to read them. The workers'
    // large replies keep the connection's writer busy while its reader has small replies to send.
    int count = 6000;
    ServerOptions.Builder options =
        ServerOptions.builder()
            .maxBytesInFlight(Nbd.MAX_PAYLOAD + 4096L)
            .slowReadNanos(Long.MAX_VALUE);
    Map<Long, Sent> sent = new HashMap<>();
    Random r = new Random(11);
    for (long cookie = 0; cookie < count; cookie++) {
      int n = cookie % 250 == 0 ? 1 << 20 : 4096;
      int at = r.nextInt((model.length - n) / 512) * 512;
      sent.put(cookie, read(Nbd.CMD_READ, at, n, model));
    }
    try (Served s = Served.readOnly(image, options);
        RawClient c = new RawClient(s.server.port()).go("", true)) {
      ExecutorService sender = Executors.newSingleThreadExecutor();
      try {
        Future<?> all =
            sender.submit(
                () -> {
                  for (long cookie = 0; cookie < count; cookie++) {
                    Sent next = sent.get(cookie);
                    c.request(0, Nbd.CMD_READ, cookie, next.offset(), next.length());
                  }
                  return null;
                });
        Thread.sleep(500); // the client reads nothing meanwhile
        Map<Long, Sent> open = new HashMap<>(sent);
        while (!open.isEmpty()) {
          receive(c, open, "bytes in flight");
        }
        all.get(1, TimeUnit.MINUTES);
        // Every reply counted as sent: the connection ends at once (within the socket timeout).
        c.request(0, Nbd.CMD_DISC, count, 0, 0);
        assertTrue(c.closedByServer(), "the server hangs up after NBD_CMD_DISC");
      } finally {
        sender.shutdownNow();
      }
    }
  }

  /**
   * One client's pipeline on [from, from + length) of the disk: up to {@link #DEPTH} requests in
   * flight, none of them overlapping a write in flight, so that the model says what each read
   * returns whatever order the server serves them in.
   */
  private static void traffic(
      int port, boolean structured, Random r, byte[] model, int from, int length) throws Exception {
    try (RawClient c = new RawClient(port).go("", structured)) {
      Map<Long, Sent> inFlight = new HashMap<>();
      long cookie = 0;
      while (cookie < REQUESTS || !inFlight.isEmpty()) {
        if (cookie < REQUESTS && inFlight.size() < DEPTH) {
          Sent next = send(c, cookie, r, structured, model, from, length, inFlight);
          if (next != null) {
            inFlight.put(cookie++, next);
            continue;
          }
        }
        receive(c, inFlight, structured ? "structured" : "simple");
      }
      c.request(0, Nbd.CMD_DISC, cookie, 0, 0);
    }
  }

  /** Sends a random request unless it would overlap a write in flight (then null). */
  private static Sent send(
      RawClient c,
      long cookie,
      Random r,
      boolean structured,
      byte[] model,
      int from,
      int length,
      Map<Long, Sent> inFlight)
      throws Exception {
    int kind = r.nextInt(10);
    int n =
        switch (kind) {
          case 0, 1, 2 -> 4096;
          case 3, 4 -> 512 * (1 + r.nextInt(128)); // up to 64 KiB
          case 5 -> (64 << 10) + 512 * r.nextInt(385); // 64 KiB to 256 KiB
          default -> 512 * (1 + r.nextInt(128));
        };
    long at = from + (long) r.nextInt((length - n) / 512) * 512;
    boolean write = kind >= 6;
    for (Sent s : inFlight.values()) {
      if (s.overlaps(at, n) && (write || s.type() != Nbd.CMD_READ)) {
        return null;
      }
    }
    int fua = r.nextInt(4) == 0 ? Nbd.CMD_FLAG_FUA : 0;
    switch (kind) {
      case 6, 7 -> {
        byte[] data = new byte[n];
        r.nextBytes(data);
        write(c, cookie, at, data, fua);
        System.arraycopy(data, 0, model, (int) at, n);
        return new Sent(Nbd.CMD_WRITE, at, n, null, null, null);
      }
      case 8 -> {
        int noHole = r.nextBoolean() ? Nbd.CMD_FLAG_NO_HOLE : 0;
        c.request(fua | noHole, Nbd.CMD_WRITE_ZEROES, cookie, at, n);
        Arrays.fill(model, (int) at, (int) at + n, (byte) 0);
        return new Sent(Nbd.CMD_WRITE_ZEROES, at, n, null, null, null);
      }
      case 9 -> {
        c.request(0, Nbd.CMD_FLUSH, cookie, 0, 0);
        return new Sent(Nbd.CMD_FLUSH, 0, 0, null, null, null);
      }
      default -> {
        int df = structured && r.nextInt(4) == 0 ? Nbd.CMD_FLAG_DF : 0;
        c.request(df, Nbd.CMD_READ, cookie, at, n);
        return read(Nbd.CMD_READ, at, n, model);
      }
    }
  }

  private static Sent read(int type, long at, int n, byte[] model) {
    byte[] expected = Arrays.copyOfRange(model, (int) at, (int) at + n);
    return new Sent(type, at, n, expected, new byte[n], new int[1]);
  }

  private static void write(RawClient c, long cookie, long at, byte[] data, int flags)
      throws Exception {
    header(c.out, Nbd.CMD_WRITE, flags, cookie, at, data.length);
    c.out.write(data);
    c.out.flush();
  }

  private static void header(DataOutputStream out, int type, int flags, long cookie, long at, int n)
      throws IOException {
    out.writeInt(Nbd.REQUEST_MAGIC);
    out.writeShort(flags);
    out.writeShort(type);
    out.writeLong(cookie);
    out.writeLong(at);
    out.writeInt(n);
  }

  /**
   * Reads one simple reply or structured chunk and checks it against its request, which leaves
   * {@code inFlight} once answered in full.
   */
  private static void receive(RawClient c, Map<Long, Sent> inFlight, String what) throws Exception {
    int magic;
    try {
      magic = c.in.readInt();
    } catch (EOFException e) {
      throw new AssertionError(what + ": the server hung up with " + inFlight.size() + " open", e);
    }
    if (magic == Nbd.SIMPLE_REPLY_MAGIC) {
      int error = c.in.readInt();
      long cookie = c.in.readLong();
      Sent s = inFlight.remove(cookie);
      assertNotNull(s, what + ": a reply to cookie " + cookie + ", which is not in flight");
      assertEquals(0, error, what + ": error of " + s);
      if (s.type() == Nbd.CMD_READ) {
        c.in.readFully(s.got());
        assertArrayEquals(s.expected(), s.got(), what + ": data of " + s);
      }
      return;
    }
    assertEquals(Nbd.STRUCTURED_REPLY_MAGIC, magic, what + ": reply magic");
    int flags = c.in.readUnsignedShort();
    int type = c.in.readUnsignedShort();
    long cookie = c.in.readLong();
    byte[] payload = new byte[c.in.readInt()];
    c.in.readFully(payload);
    Sent s = inFlight.get(cookie);
    assertNotNull(s, what + ": a chunk for cookie " + cookie + ", which is not in flight");
    ByteBuffer b = ByteBuffer.wrap(payload);
    switch (type) {
      case Nbd.REPLY_TYPE_OFFSET_DATA -> {
        int at = (int) (b.getLong() - s.offset());
        b.get(s.got(), at, b.remaining());
        s.seen()[0] += payload.length - 8;
      }
      case Nbd.REPLY_TYPE_OFFSET_HOLE -> {
        b.getLong();
        s.seen()[0] += b.getInt(); // the bytes stay zero
      }
      case Nbd.REPLY_TYPE_NONE -> {}
      default -> fail(what + ": chunk type " + type + " for " + s);
    }
    if ((flags & Nbd.REPLY_FLAG_DONE) != 0) {
      inFlight.remove(cookie);
      assertEquals(s.length(), s.seen()[0], what + ": bytes covered by the chunks of " + s);
      assertArrayEquals(s.expected(), s.got(), what + ": data of " + s);
    }
  }

  private void assertCleanAndEqual(Path image, String what) {
    String check = Tools.run(dir, "qemu-img", "check", image.toString());
    assertTrue(check.contains("No errors were found on the image."), what + ": " + check);
    Tools.run(
        dir, "qemu-img", "compare", "-f", "raw", "-F", "qcow2", "model.raw", image.toString());
  }
}
