package dev.qcow2.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.BlockStatus;
import dev.qcow2.Qcow2Image;
import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Seeded random chains rebased with {@link RebaseMode#SAFE_COMPRESSED}: onto a partly different
 * base, or onto nothing. Whatever the layout (v2 or v3, extended L2, small clusters, zstd,
 * compressed or plain bases, zeros and discards in the top), the image passes qemu-img check, reads
 * as it did before (qemu-img compare), and what it did not hold before and now holds as data is
 * compressed. Every message names the seed; {@code -Dqcow2.seed=N} replays one.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class RebaseCompressedPropertyTest {
  private static final String[] OPTIONS = {
    "compat=1.1",
    "compat=0.10",
    "extended_l2=on",
    "cluster_size=4096",
    "cluster_size=65536,compression_type=zstd"
  };

  @TempDir Path dir;

  static Stream<Long> seeds() {
    Long fixed = Long.getLong("qcow2.seed");
    if (fixed != null) {
      return Stream.of(fixed);
    }
    return LongStream.range(0, Integer.getInteger("qcow2.sequences", 10))
        .map(i -> 0x2545f4914f6cdd1dL * (i + 3))
        .boxed();
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void compressedRebaseKeepsTheDiskAndPacksWhatItCopies(long seed) throws Exception {
    Random r = new Random(seed);
    String options = OPTIONS[r.nextInt(OPTIONS.length)];
    boolean flatten = r.nextBoolean();
    String context = "seed " + seed + " (" + options + (flatten ? ", flatten" : ", onto b2") + ")";
    long size = (1L + r.nextInt(3)) << 20;
    TestData.writeRaw(dir.resolve("b1.raw"), size, seed);
    Files.copy(dir.resolve("b1.raw"), dir.resolve("b2.raw"));
    Qemu.run(dir, qemuIo("raw", "b2.raw", randomWrites(r, size, 3, false)));
    for (String b : List.of("b1", "b2")) {
      List<String> convert = new ArrayList<>(List.of("qemu-img", "convert"));
      if (r.nextBoolean() && !options.startsWith("compat=0.10")) {
        convert.add("-c");
      }
      convert.addAll(List.of("-O", "qcow2", "-o", options, b + ".raw", b + ".qcow2"));
      Qemu.run(dir, convert.toArray(new String[0]));
    }
    String top = "backing_file=b1.qcow2,backing_fmt=qcow2," + options;
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", top, "top.qcow2");
    Qemu.run(dir, qemuIo("qcow2", "top.qcow2", randomWrites(r, size, 4, true)));
    Qemu.toRaw(dir, "top.qcow2", "before.raw");
    List<BlockStatus> heldBefore = held(dir.resolve("top.qcow2"));

    ImageRebaser.rebase(
        dir.resolve("top.qcow2"),
        flatten ? "" : "b2.qcow2",
        flatten ? null : "qcow2",
        RebaseMode.SAFE_COMPRESSED,
        null);

    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "top.qcow2"));
    assertEquals(0, check.exitCode(), context + ": " + check.stdout() + check.stderr());
    Qemu.Result compare = Qemu.exec(dir, List.of("qemu-img", "compare", "top.qcow2", "before.raw"));
    assertEquals(0, compare.exitCode(), context + ": " + compare.stdout() + compare.stderr());
    for (BlockStatus now : held(dir.resolve("top.qcow2"))) {
      if (!now.compressed() && !overlaps(heldBefore, now)) {
        // Only a cluster that did not shrink is stored plainly: its bytes are incompressible.
        assertTrue(
            now.data() && isIncompressible(dir.resolve("before.raw"), now),
            context + ": copied but not compressed: " + now);
      }
    }
  }

  /** The runs the image holds itself (depth 0, present). */
  private static List<BlockStatus> held(Path path) throws Exception {
    List<BlockStatus> runs = new ArrayList<>();
    try (Qcow2Image image = Qcow2Image.open(path)) {
      long at = 0;
      while (at < image.size()) {
        BlockStatus s = image.blockStatus(at, image.size() - at);
        if (s.depth() == 0 && s.present()) {
          runs.add(s);
        }
        at += s.length();
      }
    }
    return runs;
  }

  private static boolean overlaps(List<BlockStatus> runs, BlockStatus s) {
    return runs.stream()
        .anyMatch(b -> b.start() < s.start() + s.length() && s.start() < b.start() + b.length());
  }

  /** Whether the disk's bytes under {@code s} do not deflate to less than they are. */
  private static boolean isIncompressible(Path raw, BlockStatus s) throws Exception {
    byte[] all = Files.readAllBytes(raw);
    java.util.zip.Deflater d = new java.util.zip.Deflater();
    d.setInput(all, (int) s.start(), (int) s.length());
    d.finish();
    byte[] out = new byte[(int) s.length() * 2 + 64];
    int n = d.deflate(out);
    d.end();
    return n >= s.length() * 9 / 10;
  }

  /** Up to {@code count} random writes (patterns, zeros, and in a qcow2 image discards). */
  private static List<String> randomWrites(Random r, long size, int count, boolean discards) {
    List<String> ops = new ArrayList<>();
    for (int i = 0; i < 1 + r.nextInt(count); i++) {
      long at = (r.nextLong(size) / 512) * 512;
      long n = Math.min(size - at, 512L * (1 + r.nextInt(256)));
      int kind = r.nextInt(discards ? 3 : 2);
      ops.add(
          kind == 0
              ? "write -P " + (1 + r.nextInt(250)) + " " + at + " " + n
              : kind == 1 ? "write -z " + at + " " + n : "discard " + at + " " + n);
    }
    return ops;
  }

  private static String[] qemuIo(String format, String image, List<String> ops) {
    List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", format, "--discard=unmap"));
    for (String op : ops) {
      cmd.add("-c");
      cmd.add(op);
    }
    cmd.add(image);
    return cmd.toArray(new String[0]);
  }
}
