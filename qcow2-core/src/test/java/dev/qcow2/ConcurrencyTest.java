package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Many threads on one writable image, and the file lock that keeps other writers out.
 *
 * <p>Four writers each own a region (writes, zero writes, discards and compressed writes there,
 * checked exactly against a model at the end) and all four overwrite the same shared clusters,
 * whole clusters at a time, each with its own pattern: afterwards every shared cluster holds one
 * writer's pattern, never a mix. Two readers read at the same time; every 512-byte sector they see
 * is either zeros or a sector some writer wrote to exactly that guest offset, and every shared
 * cluster is one writer's. Then qemu-img check finds nothing and qemu reads what we read.
 *
 * <p>Every sector written carries a header (magic, its own guest offset, a write id) and a fill
 * derived from both, so garbage, torn sectors and data from another place are all recognised.
 * {@code -Dqcow2.seed=S} replays a run; helper threads derive their own seeds from it.
 */
class ConcurrencyTest {
  private static final long MAGIC = 0x51434f5732434f4eL; // "QCOW2CON"
  private static final int WRITERS = 4;
  private static final int READERS = 2;
  private static final long REGION = 2L << 20;

  @TempDir Path dir;

  static Stream<CreateOptions> options() {
    long size = 16L << 20;
    return Stream.of(
        CreateOptions.builder(size).build(),
        CreateOptions.builder(size).clusterSize(4096).refcountBits(64).build(),
        CreateOptions.builder(size)
            .clusterSize(16384)
            .extendedL2(true)
            .compressionType(CompressionType.ZSTD)
            .build(),
        CreateOptions.builder(size).clusterSize(4096).lazyRefcounts(true).refcountBits(2).build(),
        CreateOptions.builder(size).version(2).clusterSize(512).build());
  }

  @ParameterizedTest
  @MethodSource("options")
  void concurrentWritersAndReaders(CreateOptions options) throws Exception {
    long seed = Long.getLong("qcow2.seed", 0x0c0ffeeL + options.clusterSize());
    try {
      concurrent(options, seed);
    } catch (AssertionError | Exception e) {
      throw new AssertionError(
          "seed "
              + seed
              + " (replay with -Dqcow2.seed="
              + seed
              + "), "
              + options
              + ": "
              + e.getMessage(),
          e);
    }
  }

  private void concurrent(CreateOptions options, long seed) throws Exception {
    Path path = dir.resolve("shared.qcow2");
    int cs = options.clusterSize();
    long size = options.size();
    long sharedStart = WRITERS * REGION;
    int sharedClusters = 48;
    long sharedEnd = sharedStart + (long) sharedClusters * cs;
    byte[] model = new byte[(int) size];
    Queue<Throwable> failures = new ConcurrentLinkedQueue<>();
    AtomicBoolean writing = new AtomicBoolean(true);
    AtomicLong sectorsChecked = new AtomicLong();
    byte[] ours = new byte[(int) size];

    try (Qcow2Image img = Qcow2Image.create(path, options)) {
      List<Thread> writers = new ArrayList<>();
      for (int t = 0; t < WRITERS; t++) {
        int thread = t;
        Random r = new Random(seed * 31 + t);
        writers.add(
            new Thread(
                () -> {
                  try {
                    writer(img, thread, r, model, cs, sharedStart, sharedClusters);
                  } catch (Throwable e) {
                    failures.add(e);
                  }
                },
                "writer-" + t));
      }
      List<Thread> readers = new ArrayList<>();
      for (int t = 0; t < READERS; t++) {
        Random r = new Random(seed * 37 + 100 + t);
        readers.add(
            new Thread(
                () -> {
                  try {
                    while (writing.get() && failures.isEmpty()) {
                      long at = (long) (r.nextDouble() * size) & ~511L;
                      int len = (int) Math.min(size - at, 512L * (1 + r.nextInt(3 * cs / 512 + 8)));
                      if (r.nextInt(4) == 0) {
                        // Read the shared clusters as a whole now and then.
                        at = sharedStart;
                        len = (int) (sharedEnd - sharedStart);
                      }
                      ByteBuffer b = ByteBuffer.allocate(len);
                      img.readFully(b, at);
                      checkSectors(
                          b.array(),
                          at,
                          cs,
                          sharedStart,
                          sharedEnd,
                          "concurrent read at " + at + "+" + len);
                      sectorsChecked.addAndGet(len / 512);
                    }
                  } catch (Throwable e) {
                    failures.add(e);
                  }
                },
                "reader-" + t));
      }
      writers.forEach(Thread::start);
      readers.forEach(Thread::start);
      for (Thread w : writers) {
        w.join(TimeUnit.MINUTES.toMillis(2));
      }
      writing.set(false);
      for (Thread rd : readers) {
        rd.join(TimeUnit.MINUTES.toMillis(1));
      }
      if (!failures.isEmpty()) {
        Throwable first = failures.peek();
        AssertionError e =
            new AssertionError(failures.size() + " thread(s) failed; first: " + first, first);
        failures.stream().skip(1).forEach(e::addSuppressed);
        throw e;
      }
      assertTrue(sectorsChecked.get() > 0, "the readers read something");
      img.flush();
      img.readFully(ByteBuffer.wrap(ours), 0);
    }
    // Each writer's region is exactly its model; each shared cluster is one writer's.
    for (int t = 0; t < WRITERS; t++) {
      int from = (int) (t * REGION);
      int m = Arrays.mismatch(model, from, from + (int) REGION, ours, from, from + (int) REGION);
      assertEquals(
          -1, m, "writer " + t + "'s region differs from its model at guest offset " + (from + m));
    }
    checkSectors(ours, 0, cs, sharedStart, sharedEnd, "final read");
    for (int i = (int) sharedEnd; i < size; i++) {
      if (ours[i] != 0) {
        fail("nobody wrote past the shared clusters, but guest offset " + i + " reads " + ours[i]);
      }
    }

    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "shared.qcow2"));
    assertEquals(0, check.exitCode(), () -> "qemu-img check:\n" + check.stdout() + check.stderr());
    assertTrue(check.stdout().contains("No errors were found"), check.stdout());
    byte[] theirs = Files.readAllBytes(Qemu.toRaw(dir, "shared.qcow2", "shared.raw"));
    assertEquals(-1, Arrays.mismatch(ours, theirs), "qemu reads what we read");
    byte[] reopened = CrashTest.readAll(path);
    assertEquals(-1, Arrays.mismatch(ours, reopened), "a read-only reopen reads what we read");
  }

  private static void writer(
      Qcow2Image img,
      int thread,
      Random r,
      byte[] model,
      int cs,
      long sharedStart,
      int sharedClusters)
      throws IOException {
    long regionStart = thread * REGION;
    int regionClusters = (int) (REGION / cs);
    for (int i = 0; i < 500; i++) {
      int id = (thread + 1) << 24 | i;
      int kind = r.nextInt(20);
      if (kind < 6) {
        // Whole shared clusters, one or two, with this writer's pattern.
        int n = r.nextInt(5) == 0 ? 2 : 1;
        long at = sharedStart + (long) r.nextInt(sharedClusters - n + 1) * cs;
        img.write(ByteBuffer.wrap(sectors(at, n * cs, id)), at);
        continue;
      }
      long at = regionStart + 512L * r.nextInt((int) (REGION / 512));
      int len = (int) Math.min(regionStart + REGION - at, 512L * (1 + r.nextInt(3 * cs / 512 + 8)));
      if (kind < 14) {
        byte[] b = sectors(at, len, id);
        img.write(ByteBuffer.wrap(b), at);
        System.arraycopy(b, 0, model, (int) at, len);
      } else if (kind < 16) {
        img.writeZeroes(at, len);
        Arrays.fill(model, (int) at, (int) at + len, (byte) 0);
      } else if (kind < 18) {
        img.discard(at, len);
        long first = (at + cs - 1) / cs * cs;
        long end = (at + len) / cs * cs;
        for (long c = first; c < end; c += cs) {
          Arrays.fill(model, (int) c, (int) c + cs, (byte) 0);
        }
      } else {
        long c = regionStart + (long) r.nextInt(regionClusters) * cs;
        byte[] b = sectors(c, cs, id);
        img.writeCompressed(ByteBuffer.wrap(b), c);
        System.arraycopy(b, 0, model, (int) c, cs);
      }
      if (r.nextInt(25) == 0) {
        img.flush();
      }
    }
  }

  /**
   * {@code length} bytes of sectors for guest offset {@code at}, each naming its offset and {@code
   * id}.
   */
  static byte[] sectors(long at, int length, int id) {
    byte[] b = new byte[length];
    ByteBuffer w = ByteBuffer.wrap(b);
    for (int s = 0; s < length; s += 512) {
      long pos = at + s;
      w.putLong(s, MAGIC).putLong(s + 8, pos).putInt(s + 16, id);
      for (int i = 20; i < 512; i++) {
        b[s + i] = fill(pos, id, i);
      }
    }
    return b;
  }

  private static byte fill(long pos, int id, int i) {
    return (byte) ((pos >>> 9) * 131 + id * 7 + i);
  }

  /**
   * Every sector of {@code b} (read at guest offset {@code at}) is zeros or a sector written for
   * exactly that offset; every shared cluster wholly inside {@code b} is all zeros or one write
   * id's sectors.
   */
  static void checkSectors(
      byte[] b, long at, int cs, long sharedStart, long sharedEnd, String what) {
    ByteBuffer w = ByteBuffer.wrap(b);
    for (int s = 0; s + 512 <= b.length; s += 512) {
      long pos = at + s;
      long magic = w.getLong(s);
      if (magic == 0) {
        for (int i = s; i < s + 512; i++) {
          if (b[i] != 0) {
            fail(
                what
                    + ": sector at guest offset "
                    + pos
                    + " is neither zeros nor written data (byte "
                    + (i - s)
                    + " is "
                    + b[i]
                    + ")");
          }
        }
        continue;
      }
      if (magic != MAGIC) {
        fail(
            what
                + ": sector at guest offset "
                + pos
                + " holds garbage (first 8 bytes 0x"
                + Long.toHexString(magic)
                + ")");
      }
      long named = w.getLong(s + 8);
      if (named != pos) {
        fail(
            what
                + ": sector at guest offset "
                + pos
                + " holds the data written for guest offset "
                + named);
      }
      int id = w.getInt(s + 16);
      for (int i = 20; i < 512; i++) {
        if (b[s + i] != fill(pos, id, i)) {
          fail(
              what
                  + ": sector at guest offset "
                  + pos
                  + " is torn at byte "
                  + i
                  + " (write id 0x"
                  + Integer.toHexString(id)
                  + ")");
        }
      }
    }
    for (long c = Math.max(sharedStart, (at + cs - 1) / cs * cs);
        c + cs <= Math.min(sharedEnd, at + b.length);
        c += cs) {
      int first = w.getInt((int) (c - at) + 16);
      for (int s = 512; s < cs; s += 512) {
        int id = w.getInt((int) (c - at) + s + 16);
        if (id != first) {
          fail(
              what
                  + ": shared cluster at guest offset "
                  + c
                  + " mixes write 0x"
                  + Integer.toHexString(first)
                  + " (writer "
                  + ((first >>> 24) - 1)
                  + ") and write 0x"
                  + Integer.toHexString(id)
                  + " (writer "
                  + ((id >>> 24) - 1)
                  + ") at sector "
                  + (s / 512));
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The file lock

  private Path image(String name, CreateOptions options) throws IOException {
    Path path = dir.resolve(name);
    Qcow2Image.create(path, options).close();
    return path;
  }

  private static OpenOptions writable() {
    return OpenOptions.builder().writable(true).build();
  }

  @Test
  void secondWritableOpenInThisProcessIsRefusedAndNamesTheFile() throws IOException {
    Path path = image("locked.qcow2", CreateOptions.builder(4L << 20).build());
    byte[] data = new byte[4096];
    Arrays.fill(data, (byte) 0x5a);
    try (Qcow2Image first = Qcow2Image.open(path, writable())) {
      first.write(ByteBuffer.wrap(data), 0);
      FileSystemException e =
          assertThrows(FileSystemException.class, () -> Qcow2Image.open(path, writable()).close());
      assertTrue(
          e.getMessage().contains(path.toString()),
          "the message names the file: " + e.getMessage());
      // The first writer is unharmed.
      first.write(ByteBuffer.wrap(data), 65536);
      first.flush();
      // Readers may still open it.
      try (Qcow2Image reader = Qcow2Image.open(path)) {
        assertEquals(0x5a, readByte(reader, 65536));
      }
    }
    // After close, a writable open works again.
    try (Qcow2Image again = Qcow2Image.open(path, writable())) {
      again.write(ByteBuffer.wrap(new byte[] {1}), 1 << 20);
    }
    LazyRefcountsTest.assertClean(dir, "locked.qcow2");
    try (Qcow2Image img = Qcow2Image.open(path)) {
      assertEquals(0x5a, readByte(img, 0));
      assertEquals(0x5a, readByte(img, 65536 + 4095));
      assertEquals(1, readByte(img, 1 << 20));
    }
  }

  @Test
  void refusedSecondOpenLeavesTheFirstWritersLockInPlace() throws IOException {
    Path path = image("locked.qcow2", CreateOptions.builder(4L << 20).build());
    try (Qcow2Image first = Qcow2Image.open(path, writable())) {
      assertThrows(FileSystemException.class, () -> Qcow2Image.open(path, writable()).close());
      first.write(ByteBuffer.wrap(new byte[] {7}), 0);
      first.flush();
      String before = sha256(path);
      // Another process must still be kept out: closing the refused open's file descriptor must
      // not have dropped the lock that the first open holds (POSIX drops all of a process's
      // fcntl locks on a file when any descriptor for it is closed).
      Qemu.Result r =
          Qemu.exec(
              dir, List.of("qemu-io", "-f", "qcow2", "-c", "write -P 9 0 512", "locked.qcow2"));
      assertTrue(
          r.stderr().contains("lock") || r.stdout().contains("lock"),
          "qemu-io must be refused the write lock while we write, but it said: exit "
              + r.exitCode()
              + "\n"
              + r.stdout()
              + r.stderr());
      assertEquals(before, sha256(path), "qemu-io changed the file while we held it");
    }
  }

  @Test
  void readOnlyOpenInThisProcessLeavesTheWritersLockInPlace() throws IOException {
    Path path = image("locked.qcow2", CreateOptions.builder(4L << 20).build());
    try (Qcow2Image writer = Qcow2Image.open(path, writable())) {
      writer.write(ByteBuffer.wrap(new byte[] {7}), 0);
      writer.flush();
      try (Qcow2Image reader = Qcow2Image.open(path)) {
        assertEquals(7, readByte(reader, 0));
      }
      String before = sha256(path);
      // The reader's close must not have dropped the writer's lock (see above).
      Qemu.Result r =
          Qemu.exec(
              dir, List.of("qemu-io", "-f", "qcow2", "-c", "write -P 9 0 512", "locked.qcow2"));
      assertTrue(
          r.stderr().contains("lock") || r.stdout().contains("lock"),
          "qemu-io must be refused the write lock while we write, but it said: exit "
              + r.exitCode()
              + "\n"
              + r.stdout()
              + r.stderr());
      assertEquals(before, sha256(path), "qemu-io changed the file while we held it");
    }
  }

  @Test
  void qemuIoIsRefusedWhileWeWrite() throws IOException {
    Path path = image("ours.qcow2", CreateOptions.builder(4L << 20).build());
    try (Qcow2Image img = Qcow2Image.open(path, writable())) {
      img.write(ByteBuffer.wrap(new byte[] {3}), 0);
      img.flush();
      String before = sha256(path);
      Qemu.Result r =
          Qemu.exec(dir, List.of("qemu-io", "-f", "qcow2", "-c", "write -P 9 0 512", "ours.qcow2"));
      assertNotEquals(
          0,
          r.exitCode(),
          () -> "qemu-io must fail while we hold the image:\n" + r.stdout() + r.stderr());
      assertTrue(
          r.stderr().contains("lock"), () -> "qemu-io's complaint names the lock: " + r.stderr());
      assertEquals(before, sha256(path), "qemu-io changed the file while we held it");
    }
  }

  @Test
  void ourWritableOpenIsRefusedWhileQemuIoHoldsTheImage() throws Exception {
    Path path = image("theirs.qcow2", CreateOptions.builder(4L << 20).build());
    Process qemu =
        new ProcessBuilder("qemu-io", "-f", "qcow2", "theirs.qcow2")
            .directory(dir.toFile())
            .redirectErrorStream(true)
            .start();
    try {
      OutputStream in = qemu.getOutputStream();
      BufferedReader out =
          new BufferedReader(new InputStreamReader(qemu.getInputStream(), StandardCharsets.UTF_8));
      // A command answered means the image is open, and locked.
      in.write("write -P 5 0 512\n".getBytes(StandardCharsets.UTF_8));
      in.flush();
      StringBuilder seen = new StringBuilder();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (!seen.toString().contains("wrote 512/512") && System.nanoTime() < deadline) {
        int c = out.read();
        if (c < 0) {
          fail("qemu-io ended: " + seen);
        }
        seen.append((char) c);
      }
      assertTrue(seen.toString().contains("wrote 512/512"), seen.toString());
      String before = sha256(path);
      FileSystemException e =
          assertThrows(FileSystemException.class, () -> Qcow2Image.open(path, writable()).close());
      assertTrue(e.getMessage().contains(path.toString()), e.getMessage());
      assertEquals(before, sha256(path), "the refused open changed the file");
      in.write("quit\n".getBytes(StandardCharsets.UTF_8));
      in.close();
      assertTrue(qemu.waitFor(30, TimeUnit.SECONDS), "qemu-io quits");
    } finally {
      qemu.destroyForcibly();
    }
    try (Qcow2Image img = Qcow2Image.open(path, writable())) {
      assertEquals(5, readByte(img, 511));
    }
  }

  @Test
  void refusedSecondOpenOfADirtyLazyImageChangesNothing() throws IOException {
    Path path =
        image(
            "lazy.qcow2",
            CreateOptions.builder(8L << 20).clusterSize(4096).lazyRefcounts(true).build());
    byte[] data = new byte[100_000];
    new Random(5).nextBytes(data);
    try (Qcow2Image first = Qcow2Image.open(path, writable())) {
      first.write(ByteBuffer.wrap(data), 12345);
      first.flush();
      assertEquals(1, Poke.readU64(path, 72) & 1, "dirty while the first writer writes");
      String before = sha256(path);
      assertThrows(FileSystemException.class, () -> Qcow2Image.open(path, writable()).close());
      assertEquals(
          before,
          sha256(path),
          "a refused writable open must not touch the file (no dirty-image repair under another writer)");
      first.write(ByteBuffer.wrap(data), 3_000_000);
    }
    LazyRefcountsTest.assertClean(dir, "lazy.qcow2");
    try (Qcow2Image img = Qcow2Image.open(path)) {
      byte[] back = new byte[data.length];
      img.readFully(ByteBuffer.wrap(back), 3_000_000);
      assertEquals(-1, Arrays.mismatch(data, back));
    }
  }

  private static int readByte(Qcow2Image img, long at) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(1);
    img.readFully(b, at);
    return b.get(0);
  }

  /**
   * The file's SHA-256, computed by another process: opening and closing the file here would drop
   * this process's POSIX lock on it (closing any descriptor of a file releases all of a process's
   * fcntl locks on it), and with it the writer's protection this class tests.
   */
  static String sha256(Path file) {
    return Qemu.run(file.getParent(), "sha256sum", file.getFileName().toString()).split(" ")[0];
  }
}
