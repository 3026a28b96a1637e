package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.qcow2.testing.ChildJvm;
import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Crash consistency with a real crash: a child JVM ({@link CrashWriter}) writes to an image and is
 * killed with SIGKILL at a random moment. Afterwards {@code qemu-img check} finds at worst leaks,
 * the image opens, every byte that the last completed flush made durable reads as the model says
 * (bytes touched by operations begun after that flush may hold either content and are not
 * compared), qemu and we read the same bytes, and the image can be opened for writing again and
 * still checks clean or leaks-only.
 *
 * <p>Each kill is on a fresh image over random create options (cluster sizes 512 B to 2 MiB,
 * refcount widths 1 to 64 bits, extended L2, version 2 and 3, lazy refcounts, qcow2 or raw backing
 * files); every fourth case uses 512-byte clusters and wide refcounts, so that the refcount table
 * has to grow while writing. {@code -Dqcow2.crashes=N} sets the number of kills, {@code
 * -Dqcow2.seed=S} replays one, {@code -Dqcow2.keep=DIR} keeps the files of a failed case, {@code
 * -Dqcow2.verbose=true} prints one line per kill.
 */
class CrashTest {
  static final int CRASHES = Integer.getInteger("qcow2.crashes", 25);

  static Stream<Long> seeds() {
    Long fixed = Long.getLong("qcow2.seed");
    if (fixed != null) {
      return Stream.of(fixed);
    }
    return LongStream.range(0, CRASHES).map(i -> 0x2545f4914f6cdd1dL * (i + 11)).boxed();
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void killedWriterLeavesAConsistentImage(long seed, @TempDir Path dir) throws Exception {
    try {
      run(seed, dir);
    } catch (AssertionError | Exception e) {
      String keep = System.getProperty("qcow2.keep");
      if (keep != null) {
        Path to = Files.createDirectories(Path.of(keep, Long.toString(seed)));
        try (Stream<Path> files = Files.list(dir)) {
          for (Path f : files.toList()) {
            Files.copy(f, to.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
          }
        }
      }
      throw new AssertionError(
          "seed " + seed + " (replay with -Dqcow2.seed=" + seed + "): " + e.getMessage(), e);
    }
  }

  /** The create options a seed stands for, and what the model needs to know about them. */
  record Setup(CreateOptions options, String backing, String text) {}

  static Setup setup(long seed) {
    Random r = new Random(seed);
    boolean growth = Math.floorMod(seed, 4) == 0;
    int clusterSize;
    int bits;
    int version;
    if (growth) {
      // 512-byte clusters with wide refcounts: one table cluster covers 2 to 8 MiB of file.
      clusterSize = 512;
      version = 3;
      bits = new int[] {16, 32, 64}[r.nextInt(3)];
    } else {
      clusterSize = new int[] {512, 4096, 65536, 65536, 2 << 20}[r.nextInt(5)];
      version = r.nextInt(4) == 0 ? 2 : 3;
      bits = version == 2 ? 16 : new int[] {1, 2, 4, 8, 16, 32, 64}[r.nextInt(7)];
    }
    boolean extendedL2 = version == 3 && clusterSize >= 16384 && r.nextInt(3) == 0;
    boolean lazy = version == 3 && r.nextInt(5) == 0;
    CompressionType compression =
        version == 3 && r.nextBoolean() ? CompressionType.ZSTD : CompressionType.ZLIB;
    long size = (clusterSize >= (2 << 20) ? 32L << 20 : 16L << 20) - 512L * r.nextInt(8);
    String backing =
        growth
            ? null
            : switch (r.nextInt(3)) {
              case 0 -> "qcow2";
              case 1 -> "raw";
              default -> null;
            };
    CreateOptions.Builder b =
        CreateOptions.builder(size)
            .version(version)
            .clusterSize(clusterSize)
            .refcountBits(bits)
            .extendedL2(extendedL2)
            .lazyRefcounts(lazy)
            .compressionType(compression);
    if (backing != null) {
      b.backingFile("base." + backing, backing);
    }
    CreateOptions o = b.build();
    return new Setup(o, backing, o.toString());
  }

  private void run(long seed, Path dir) throws Exception {
    Setup s = setup(seed);
    CreateOptions o = s.options();
    Random r = new Random(seed ^ 0x5deece66dL);
    long size = o.size();
    byte[] base = new byte[(int) size];
    if (s.backing() != null) {
      long baseSize = size - 512L * r.nextInt(4096); // sometimes shorter than the overlay
      TestData.writeRaw(dir.resolve("base.src"), baseSize, seed);
      if (s.backing().equals("raw")) {
        Files.move(dir.resolve("base.src"), dir.resolve("base.raw"));
      } else {
        Qemu.img(dir, "convert", "-O", "qcow2", "base.src", "base.qcow2");
      }
      byte[] content = Files.readAllBytes(Qemu.toRaw(dir, "base." + s.backing(), "base.view"));
      System.arraycopy(content, 0, base, 0, content.length);
    }
    Path image = dir.resolve("crash.qcow2");
    Qcow2Image.create(image, o).close();

    // The child writes until it is killed.
    Path stderr = dir.resolve("child.err");
    Process child =
        new ProcessBuilder(
                ChildJvm.command(
                    List.of("-Xmx256m", "-XX:TieredStopAtLevel=1"),
                    CrashWriter.class,
                    image.toString(),
                    Long.toString(seed)))
            .redirectError(stderr.toFile())
            .start();
    child.getOutputStream().close();
    long[] progress = {
      0, -1, 0, 0, 0
    }; // last "flushed N", last "op K", ready, lines read, read failed
    Object ready = new Object();
    Thread reader = new Thread(() -> readProgress(child, progress, ready), "crash-child-stdout");
    reader.start();
    long killAfter = 50 + r.nextInt(751);
    synchronized (ready) {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (progress[2] == 0 && child.isAlive() && System.nanoTime() < deadline) {
        ready.wait(100);
      }
    }
    if (progress[2] == 0) {
      child.destroyForcibly().waitFor();
      fail("the writer never opened the image: " + Files.readString(stderr));
    }
    boolean exited = child.waitFor(killAfter, TimeUnit.MILLISECONDS);
    if (!exited) {
      // SIGKILL on Linux: no shutdown hooks, no close(). Through the ProcessHandle, because
      // Process.destroyForcibly() also closes our end of the child's stdout, and the lines still
      // in the pipe (the child runs ahead of our reader) would be lost: we would then believe
      // fewer operations had begun than really had.
      child.toHandle().destroyForcibly();
    }
    int exit = child.waitFor();
    reader.join(10_000);
    assertFalse(reader.isAlive(), "the child's output never ended");
    if (exited && exit != 0) {
      fail(
          "the writer failed by itself (exit "
              + exit
              + "), options "
              + s.text()
              + ":\n"
              + Files.readString(stderr));
    }
    int flushed;
    int started;
    long lines;
    synchronized (progress) {
      flushed = (int) progress[0];
      started = (int) progress[1];
      lines = progress[3];
      assertEquals(
          0, progress[4], "reading the child's progress failed; its last lines may be lost");
    }

    // The model after the last durable flush, and the bytes later operations may have changed.
    CrashWriter.Ops ops = new CrashWriter.Ops(seed, size, o.clusterSize());
    byte[] model = base.clone();
    BitSet maybe = new BitSet((int) size);
    boolean discardIgnored = o.version() < 3 && s.backing() != null;
    List<CrashWriter.Op> undone = new ArrayList<>();
    for (int i = 0; i <= started; i++) {
      CrashWriter.Op op = ops.next();
      if (i < flushed) {
        CrashWriter.applyToModel(model, op, o.clusterSize(), discardIgnored);
      } else {
        long[] t = CrashWriter.touched(op);
        if (t != null) {
          maybe.set((int) t[0], (int) t[1]);
        }
        undone.add(op);
      }
    }
    String context =
        "options "
            + s.text()
            + ", killed after "
            + killAfter
            + " ms, "
            + flushed
            + " ops durable, "
            + (started + 1)
            + " begun ("
            + lines
            + " lines read)"
            + (exited ? " (exited by itself)" : "")
            + ", not durable: "
            + (undone.size() > 12 ? undone.subList(0, 12) + "..." : undone);

    if (Boolean.getBoolean("qcow2.verbose")) {
      System.out.println(
          "seed "
              + seed
              + ": refcount table at 0x"
              + Long.toHexString(Poke.readU64(image, 48))
              + ", file "
              + Files.size(image)
              + " bytes; "
              + context.substring(0, Math.min(300, context.length())));
    }
    // Version 2 headers end at byte 72; only version 3 has incompatible_features there.
    boolean dirty = o.version() == 3 && (Poke.readU64(image, 72) & FeatureBits.INCOMPAT_DIRTY) != 0;
    assertTrue(
        !dirty || o.lazyRefcounts(), () -> "dirty bit set without lazy refcounts; " + context);
    if (!dirty) {
      // A dirty image (lazy refcounts) has stale refcounts by design; qemu repairs it on a writable
      // open, and so do we, below.
      assertNoCorruption(dir, "crash.qcow2", "after the kill; " + context);
    }

    byte[] ours = readAll(image);
    assertDurable(model, ours, maybe, "our read after the kill; " + context);
    byte[] theirs = Files.readAllBytes(Qemu.toRaw(dir, "crash.qcow2", "crash.raw"));
    assertSame(theirs, ours, "qemu's read against ours after the kill; " + context);

    // Writable again: (repair if dirty,) more writes, close; still consistent.
    byte[] expected = ours;
    CrashWriter.Ops more = new CrashWriter.Ops(seed + 1, size, o.clusterSize());
    List<CrashWriter.Op> after = new ArrayList<>();
    try (Qcow2Image img = Qcow2Image.open(image, OpenOptions.builder().writable(true).build())) {
      byte[] reopened = new byte[(int) size];
      img.readFully(ByteBuffer.wrap(reopened), 0);
      assertSame(ours, reopened, "our read after a writable open; " + context);
      for (int i = 0; i < 30; i++) {
        CrashWriter.Op op = more.next();
        after.add(op);
        CrashWriter.apply(img, op);
        CrashWriter.applyToModel(expected, op, o.clusterSize(), discardIgnored);
      }
    }
    String context2 = context + "; then " + after;
    assertNoCorruption(dir, "crash.qcow2", "after writing again; " + context2);
    assertSame(expected, readAll(image), "our read after writing again; " + context2);
    assertSame(
        expected,
        Files.readAllBytes(Qemu.toRaw(dir, "crash.qcow2", "crash2.raw")),
        "qemu's read after writing again; " + context2);
  }

  private static void readProgress(Process child, long[] progress, Object ready) {
    try (BufferedReader in =
        new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = in.readLine()) != null) {
        synchronized (progress) {
          progress[3]++;
          if (line.startsWith("op ")) {
            progress[1] = Long.parseLong(line.substring(3));
          } else if (line.startsWith("flushed ")) {
            progress[0] = Long.parseLong(line.substring(8));
          }
        }
        if (line.equals("ready")) {
          synchronized (ready) {
            progress[2] = 1;
            ready.notifyAll();
          }
        }
      }
    } catch (IOException e) {
      synchronized (progress) {
        progress[4] = 1; // lines may be lost: the progress cannot be trusted
      }
    }
  }

  static byte[] readAll(Path image) throws IOException {
    try (Qcow2Image img = Qcow2Image.open(image)) {
      byte[] b = new byte[(int) img.size()];
      img.readFully(ByteBuffer.wrap(b), 0);
      return b;
    }
  }

  /** qemu-img check: exit 0 (clean) or 3 (leaks only); 2 means corruption. */
  static void assertNoCorruption(Path dir, String image, String what) {
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", image));
    if (check.exitCode() != 0 && check.exitCode() != 3) {
      fail(
          "qemu-img check exit "
              + check.exitCode()
              + " "
              + what
              + ":\n"
              + check.stdout()
              + check.stderr());
    }
    assertFalse(
        check.stdout().contains("ERROR"), () -> "qemu-img check " + what + ":\n" + check.stdout());
  }

  private static void assertDurable(byte[] model, byte[] actual, BitSet maybe, String what) {
    assertEquals(model.length, actual.length, what);
    for (int i = 0; i < model.length; i++) {
      if (model[i] != actual[i] && !maybe.get(i)) {
        int end = i;
        while (end < model.length && model[end] != actual[end] && !maybe.get(end)) {
          end++;
        }
        fail(
            what
                + ": durable bytes differ at guest offset "
                + i
                + " (0x"
                + Long.toHexString(i)
                + ", "
                + (end - i)
                + " bytes in a row): expected "
                + (model[i] & 0xff)
                + ", found "
                + (actual[i] & 0xff));
      }
    }
  }

  private static void assertSame(byte[] expected, byte[] actual, String what) {
    assertEquals(expected.length, actual.length, what);
    int m = java.util.Arrays.mismatch(expected, actual);
    if (m >= 0) {
      fail(
          what
              + ": first difference at guest offset "
              + m
              + " (expected "
              + (expected[m] & 0xff)
              + ", found "
              + (actual[m] & 0xff)
              + ")");
    }
  }
}
