package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link Qcow2Image#blockStatus} while other threads write the same image.
 *
 * <p>Writers each own a region (which shares L2 tables with the others') and write, zero, discard
 * and compress there at random; after each change a writer asks for the status of what it changed,
 * which nobody else changes, and it must say exactly what the change made. Meanwhile status threads
 * walk the whole disk over and over: every run must start where asked, lie inside the disk, and be
 * self-consistent (never both zero and data; compressed runs are data without a host offset; plain
 * data has one), and no lookup may fail. A small L2 cache makes tables come and go under them.
 * Afterwards the final status agrees with the content, qemu-img check finds nothing, and qemu reads
 * exactly the writers' model.
 *
 * <p>{@code -Dqcow2.seed=S} replays a run; each thread derives its own seed from it.
 */
@Timeout(300)
class BlockStatusConcurrencyTest {
  private static final int WRITERS = 3;
  private static final int WALKERS = 2;
  private static final int OPS = 150;

  @TempDir Path dir;

  static Stream<CreateOptions> options() {
    long size = 12L << 20;
    return Stream.of(
        CreateOptions.builder(size).build(),
        CreateOptions.builder(size).clusterSize(16384).extendedL2(true).build(),
        CreateOptions.builder(size)
            .clusterSize(4096)
            .lazyRefcounts(true)
            .compressionType(CompressionType.ZSTD)
            .build());
  }

  @ParameterizedTest
  @MethodSource("options")
  void statusStaysConsistentWhileWritersChangeTheImage(CreateOptions options) throws Exception {
    long seed = Long.getLong("qcow2.seed", 0x5747a7L + options.clusterSize());
    try {
      run(options, seed);
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

  private void run(CreateOptions options, long seed) throws Exception {
    Path path = dir.resolve("status.qcow2");
    long size = options.size();
    int cs = options.clusterSize();
    long region = size / WRITERS / cs * cs;
    byte[] model = new byte[(int) size];
    Queue<Throwable> failures = new ConcurrentLinkedQueue<>();
    AtomicBoolean writing = new AtomicBoolean(true);
    OpenOptions open = OpenOptions.builder().l2CacheSize(2L * cs).build();
    try (Qcow2Image img = Qcow2Image.create(path, options, open)) {
      List<Thread> writers = new ArrayList<>();
      for (int w = 0; w < WRITERS; w++) {
        long start = w * region;
        Random random = new Random(seed * 31 + w);
        writers.add(
            thread(
                "writer " + w,
                failures,
                () -> {
                  for (int op = 0; op < OPS; op++) {
                    change(img, random, model, start, region, cs);
                  }
                }));
      }
      List<Thread> walkers = new ArrayList<>();
      int[] walks = new int[WALKERS];
      for (int k = 0; k < WALKERS; k++) {
        int walker = k;
        Random random = new Random(seed * 37 + walker);
        walkers.add(
            thread(
                "walker " + k,
                failures,
                () -> {
                  while (writing.get() || walks[walker] == 0) {
                    walk(img, size, 1 + random.nextInt(4 * cs));
                    walks[walker]++;
                  }
                }));
      }
      join(writers);
      writing.set(false);
      join(walkers);
      if (!failures.isEmpty()) {
        AssertionError e =
            new AssertionError(
                failures.size() + " thread(s) failed, first: " + failures.peek(), failures.peek());
        failures.forEach(
            f -> {
              if (f != failures.peek()) e.addSuppressed(f);
            });
        throw e;
      }
      for (int walk : walks) {
        assertTrue(walk > 0, "every walker walked at least once");
      }
      finalStatusMatchesModel(img, model);
    }
    Files.write(dir.resolve("model.raw"), model);
    Qemu.img(dir, "check", "status.qcow2");
    Qemu.img(dir, "compare", "-f", "qcow2", "-F", "raw", "status.qcow2", "model.raw");
  }

  /**
   * A status lookup that is still reading an L2 table keeps writers out: a discard of the same
   * cluster waits until the lookup has answered (with the data it saw), then happens.
   */
  @Test
  void writerWaitsForAStatusLookupInProgress() throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "cluster_size=65536", "held.qcow2", "4M");
    Qemu.io(dir, "held.qcow2", "write -P 5 0 64k");
    Path path = dir.resolve("held.qcow2");
    long l2 = Poke.readU64(path, Poke.readU64(path, 40)) & L1Entry.OFFSET_MASK;
    PausingStorage storage = new PausingStorage(Storage.open(path, true), l2);
    try (Qcow2Image img =
        Qcow2Image.open(path, storage, OpenOptions.builder().writable(true).build())) {
      CompletableFuture<BlockStatus> lookup = CompletableFuture.supplyAsync(() -> status(img, 0));
      assertTrue(storage.entered.await(30, TimeUnit.SECONDS), "the lookup reached the L2 table");
      CompletableFuture<Void> discard =
          CompletableFuture.runAsync(
              () -> {
                try {
                  img.discard(0, 65536);
                } catch (IOException e) {
                  throw new java.io.UncheckedIOException(e);
                }
              });
      assertThrows(
          TimeoutException.class,
          () -> discard.get(500, TimeUnit.MILLISECONDS),
          "the discard went ahead while a status lookup was reading the table it changes");
      storage.release.countDown();
      BlockStatus before = lookup.get(30, TimeUnit.SECONDS);
      assertTrue(before.data() && !before.zero(), "the lookup saw the data: " + before);
      discard.get(30, TimeUnit.SECONDS);
      BlockStatus after = status(img, 0);
      assertTrue(after.zero() && !after.data(), "the discard happened: " + after);
    }
    Qemu.img(dir, "check", "held.qcow2");
  }

  private static BlockStatus status(Qcow2Image img, long at) {
    try {
      return img.blockStatus(at, img.size() - at);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** A storage whose first read at one offset waits, once, until released. */
  private static final class PausingStorage implements Storage {
    private final Storage s;
    private volatile long pauseAt;
    final CountDownLatch entered = new CountDownLatch(1);
    final CountDownLatch release = new CountDownLatch(1);

    PausingStorage(Storage s, long pauseAt) {
      this.s = s;
      this.pauseAt = pauseAt;
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
      if (position == pauseAt) {
        pauseAt = -1;
        entered.countDown();
        try {
          if (!release.await(60, TimeUnit.SECONDS)) {
            throw new IOException("never released");
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException(e);
        }
      }
      return s.read(dst, position);
    }

    @Override
    public String name() {
      return s.name();
    }

    @Override
    public long size() throws IOException {
      return s.size();
    }

    @Override
    public void write(ByteBuffer src, long position) throws IOException {
      s.write(src, position);
    }

    @Override
    public void force() throws IOException {
      s.force();
    }

    @Override
    public void truncate(long size) throws IOException {
      s.truncate(size);
    }

    @Override
    public boolean isReadOnly() {
      return s.isReadOnly();
    }

    @Override
    public void close() throws IOException {
      s.close();
    }
  }

  /** One random change in [start, start + region), checked at once through blockStatus. */
  private static void change(
      Qcow2Image img, Random random, byte[] model, long start, long region, int cs)
      throws Exception {
    int clusters = (int) (region / cs);
    long at = start + (long) random.nextInt(clusters) * cs;
    int n = Math.min(1 + random.nextInt(3), (int) ((start + region - at) / cs));
    switch (random.nextInt(4)) {
      case 0 -> {
        // Any 512-byte aligned piece of up to n clusters: plain data (subclusters with extended
        // L2).
        long from = at + 512L * random.nextInt(cs / 512);
        int length =
            (int) Math.min(512L * (1 + random.nextInt(n * cs / 512)), start + region - from);
        byte[] data = new byte[length];
        random.nextBytes(data);
        img.write(ByteBuffer.wrap(data), from);
        System.arraycopy(data, 0, model, (int) from, length);
        expect(img, from, length, "write", false, true, false);
      }
      case 1 -> {
        img.writeZeroes(at, (long) n * cs);
        java.util.Arrays.fill(model, (int) at, (int) at + n * cs, (byte) 0);
        expect(img, at, (long) n * cs, "zero write", true, false, false);
      }
      case 2 -> {
        img.discard(at, (long) n * cs);
        java.util.Arrays.fill(model, (int) at, (int) at + n * cs, (byte) 0);
        expect(img, at, (long) n * cs, "discard", true, false, false);
      }
      default -> {
        // Compressible: a pattern in the first half, zeros after.
        byte[] cluster = new byte[cs];
        byte fill = (byte) (1 + random.nextInt(255));
        java.util.Arrays.fill(cluster, 0, cs / 2, fill);
        img.writeCompressed(ByteBuffer.wrap(cluster), at);
        System.arraycopy(cluster, 0, model, (int) at, cs);
        expect(img, at, cs, "compressed write", false, true, true);
      }
    }
  }

  /** Every run of [from, from + length) has the flags that the change just made. */
  private static void expect(
      Qcow2Image img,
      long from,
      long length,
      String what,
      boolean zero,
      boolean data,
      boolean compressed)
      throws Exception {
    for (long at = from; at < from + length; ) {
      BlockStatus s = img.blockStatus(at, from + length - at);
      checkRun(img, s, at, from + length - at);
      String where = what + " at " + from + "+" + length + ": run " + s;
      assertEquals(zero, s.zero(), where);
      assertEquals(data, s.data(), where);
      assertEquals(compressed, s.compressed(), where);
      at += s.length();
    }
  }

  /** The whole disk, run by run, each run checked on its own. */
  private static void walk(Qcow2Image img, long size, long maxLength) throws Exception {
    for (long at = 0; at < size; ) {
      BlockStatus s = img.blockStatus(at, maxLength);
      checkRun(img, s, at, maxLength);
      at += s.length();
    }
  }

  private static void checkRun(Qcow2Image img, BlockStatus s, long at, long maxLength) {
    String where = "run " + s + " asked at " + at + " for " + maxLength;
    assertEquals(at, s.start(), where);
    assertTrue(s.length() >= 1 && s.length() <= maxLength && at + s.length() <= img.size(), where);
    assertEquals(0, s.depth(), where);
    assertFalse(s.zero() && s.data(), where);
    if (s.compressed()) {
      assertTrue(s.data() && !s.hasHostOffset(), where);
    } else if (s.data()) {
      // A data cluster lies at a cluster-aligned host offset: host and guest offsets agree within
      // it.
      assertTrue(
          s.hasHostOffset() && Math.floorMod(s.hostOffset() - at, img.clusterSize()) == 0, where);
    }
  }

  private static void finalStatusMatchesModel(Qcow2Image img, byte[] model) throws Exception {
    walk(img, img.size(), img.size());
    for (long at = 0; at < img.size(); ) {
      BlockStatus s = img.blockStatus(at, img.size() - at);
      if (s.zero()) {
        for (long i = at; i < at + s.length(); i++) {
          if (model[(int) i] != 0) {
            fail(
                "run "
                    + s
                    + " reads as zeros, but byte "
                    + i
                    + " was written as "
                    + model[(int) i]);
          }
        }
      }
      at += s.length();
    }
  }

  interface Body {
    void run() throws Exception;
  }

  private static Thread thread(String name, Queue<Throwable> failures, Body body) {
    Thread t =
        new Thread(
            () -> {
              try {
                body.run();
              } catch (Throwable e) {
                failures.add(new AssertionError(name + ": " + e, e));
              }
            },
            name);
    t.start();
    return t;
  }

  private static void join(List<Thread> threads) throws InterruptedException {
    for (Thread t : threads) {
      t.join(TimeUnit.MINUTES.toMillis(4));
      assertFalse(t.isAlive(), t.getName() + " did not finish");
    }
  }
}
