package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Random write, zero-write, discard, compressed-write and flush sequences over random create
 * options, applied to our image and to a byte-array model. Afterwards {@code qemu-img check} finds
 * nothing at all, qemu reads exactly the model, and the same operations replayed through qemu-io on
 * an image qemu-img made give the same bytes. Overlays never change their backing file.
 *
 * <p>Seeds are drawn from {@code -Dqcow2.seed=N} (one sequence) or derived from the case number;
 * every failure message starts with the seed to replay.
 */
class RandomWriteTest {
  static final int SEQUENCES = Integer.getInteger("qcow2.sequences", 120);

  static Stream<Long> seeds() {
    Long fixed = Long.getLong("qcow2.seed");
    if (fixed != null) {
      return Stream.of(fixed);
    }
    return LongStream.range(0, SEQUENCES).map(i -> 0x9e3779b97f4a7c15L * (i + 1)).boxed();
  }

  /** One operation, in a form both our API and qemu-io can apply. */
  record Op(String kind, long offset, long length, int pattern) {
    String qemuIo() {
      switch (kind) {
        case "write":
          return "write -P " + pattern + " " + offset + " " + length;
        case "zero":
          return "write -z " + offset + " " + length;
        case "discard":
          return "discard " + offset + " " + length;
        case "compressed":
          return "write -c -P " + pattern + " " + offset + " " + length;
        default:
          return "flush";
      }
    }
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void randomOperationsMatchTheModelAndQemu(long seed, @TempDir Path dir) throws Exception {
    try {
      run(seed, dir);
    } catch (AssertionError | Exception e) {
      String keep = System.getProperty("qcow2.keep");
      if (keep != null) {
        try (Stream<Path> files = Files.list(dir)) {
          Path to = Files.createDirectories(Path.of(keep));
          for (Path f : files.toList()) {
            Files.copy(
                f, to.resolve(f.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
          }
        }
      }
      throw new AssertionError(
          "seed " + seed + " (replay with -Dqcow2.seed=" + seed + "): " + e.getMessage(), e);
    }
  }

  private void run(long seed, Path dir) throws Exception {
    Random r = new Random(seed);
    int[] clusterSizes = {512, 4096, 65536, 65536, 2 << 20, 16384};
    int clusterSize = clusterSizes[r.nextInt(clusterSizes.length)];
    int version = r.nextInt(4) == 0 ? 2 : 3;
    int[] refcountBits = {1, 2, 4, 8, 16, 16, 32, 64};
    int bits = version == 2 ? 16 : refcountBits[r.nextInt(refcountBits.length)];
    boolean extendedL2 = version == 3 && clusterSize >= 16384 && r.nextInt(3) == 0;
    CompressionType compression =
        version == 3 && r.nextBoolean() ? CompressionType.ZSTD : CompressionType.ZLIB;
    long size = (clusterSize >= (2 << 20) ? 32L << 20 : 4L << 20) + 512L * r.nextInt(64);
    String backing =
        switch (r.nextInt(3)) {
          case 0 -> "qcow2";
          case 1 -> "raw";
          default -> null;
        };

    boolean lazy = version == 3 && r.nextInt(4) == 0;
    boolean external = version == 3 && r.nextInt(5) == 0;
    boolean rawData = external && backing == null && r.nextBoolean();
    CreateOptions.Preallocation prealloc = CreateOptions.Preallocation.OFF;
    if ((backing == null || extendedL2) && r.nextInt(5) == 0) {
      prealloc = CreateOptions.Preallocation.values()[1 + r.nextInt(3)];
    }
    byte[] model = new byte[(int) size];
    String baseDigest = null;
    CreateOptions.Builder options =
        CreateOptions.builder(size)
            .version(version)
            .clusterSize(clusterSize)
            .refcountBits(bits)
            .extendedL2(extendedL2)
            .compressionType(compression)
            .preallocation(prealloc)
            .lazyRefcounts(lazy)
            .dataFile(external ? "ours.data" : null, rawData);
    StringBuilder qemuOptions =
        new StringBuilder(
            "compat="
                + (version == 2 ? "0.10" : "1.1")
                + ",cluster_size="
                + clusterSize
                + ",refcount_bits="
                + bits
                + ",extended_l2="
                + (extendedL2 ? "on" : "off")
                + ",compression_type="
                + compression.qemuName()
                + ",preallocation="
                + prealloc.name().toLowerCase(java.util.Locale.ROOT)
                + (version == 3 ? ",lazy_refcounts=" + (lazy ? "on" : "off") : "")
                + (external
                    ? ",data_file=theirs.data,data_file_raw=" + (rawData ? "on" : "off")
                    : ""));
    if (backing != null) {
      long baseSize = size - 512L * r.nextInt(2048); // sometimes shorter than the overlay
      Path base = dir.resolve("base." + backing);
      TestData.writeRaw(dir.resolve("base.src"), baseSize, seed);
      if (backing.equals("raw")) {
        Files.move(dir.resolve("base.src"), base);
      } else {
        Qemu.img(
            dir, "convert", "-O", "qcow2", "-o", "cluster_size=65536", "base.src", "base.qcow2");
      }
      Path raw = Qemu.toRaw(dir, base.getFileName().toString(), "base.raw.view");
      byte[] content = Files.readAllBytes(raw);
      System.arraycopy(content, 0, model, 0, content.length);
      baseDigest = digest(base);
      options.backingFile(base.getFileName().toString(), backing);
      qemuOptions
          .append(",backing_file=")
          .append(base.getFileName())
          .append(",backing_fmt=")
          .append(backing);
    }

    List<Op> ops = new ArrayList<>();
    int count = 20 + r.nextInt(60);
    // qemu writes compressed data only into clusters that were never allocated; track them.
    java.util.BitSet touched = new java.util.BitSet();
    while (ops.size() < count) {
      Op op = randomOp(r, size, clusterSize, compression);
      int first = (int) (op.offset() / clusterSize);
      int last = (int) ((op.offset() + Math.max(1, op.length()) - 1) / clusterSize);
      if (op.kind().equals("compressed")
          && (touched.get(first) || prealloc != CreateOptions.Preallocation.OFF || external)) {
        continue;
      }
      if (!op.kind().equals("flush")) {
        touched.set(first, last + 1);
      }
      ops.add(op);
    }

    Path ours = dir.resolve("ours.qcow2");
    Qcow2Image img = Qcow2Image.create(ours, options.build());
    try {
      for (Op op : ops) {
        apply(img, op);
        applyToModel(model, backing != null, op, version, clusterSize, size);
        if (r.nextInt(10) == 0) {
          img.close();
          img = Qcow2Image.open(ours, OpenOptions.builder().writable(true).build());
        }
      }
      assertReads(img, model, "our own read before close, options " + qemuOptions + ", ops " + ops);
    } finally {
      img.close();
    }

    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "ours.qcow2"));
    assertEquals(
        0,
        check.exitCode(),
        () -> "qemu-img check: " + check.stdout() + check.stderr() + "\nops " + ops);
    assertTrue(check.stdout().contains("No errors were found"), check.stdout());
    CheckReport ourCheck = ImageChecker.check(ours, ImageChecker.Repair.NONE);
    assertTrue(ourCheck.isClean(), () -> "our check: " + ourCheck.messages());
    Path raw = Qemu.toRaw(dir, "ours.qcow2", "ours.raw");
    assertModel(model, Files.readAllBytes(raw), "qemu's read of our image, ops " + ops);

    // The same operations through qemu-io on qemu's own image give the same bytes.
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        qemuOptions.toString(),
        "theirs.qcow2",
        Long.toString(size));
    // qemu 7.2 keeps packing compressed data into the host cluster it last used even after that
    // cluster was freed and reused within the same session, and then reports its own image
    // corrupt (OFLAG_COPIED, refcount 3). A new qemu-io process after each compressed write
    // starts a new cluster and keeps qemu's image clean.
    List<String> commands = new ArrayList<>();
    for (Op op : ops) {
      commands.add(op.qemuIo());
      if (op.kind().equals("compressed")) {
        Qemu.io(dir, "theirs.qcow2", commands.toArray(new String[0]));
        commands.clear();
      }
    }
    if (!commands.isEmpty()) {
      Qemu.io(dir, "theirs.qcow2", commands.toArray(new String[0]));
    }
    Qemu.Result theirCheck = Qemu.exec(dir, List.of("qemu-img", "check", "theirs.qcow2"));
    assertEquals(0, theirCheck.exitCode(), () -> "qemu's own image: " + theirCheck.stdout());
    Path theirs = Qemu.toRaw(dir, "theirs.qcow2", "theirs.raw");
    assertModel(
        Files.readAllBytes(theirs),
        Files.readAllBytes(raw),
        "ours against qemu-io's, options " + qemuOptions + ", ops " + ops);

    if (rawData) {
      assertModel(model, Files.readAllBytes(dir.resolve("ours.data")), "our raw data file");
    }
    if (baseDigest != null) {
      assertEquals(baseDigest, digest(dir.resolve("base." + backing)), "the backing file changed");
    }
  }

  static Op randomOp(Random r, long size, int clusterSize, CompressionType compression) {
    int kind = r.nextInt(20);
    long offset;
    long length;
    if (r.nextBoolean()) {
      // Cluster-aligned, whole clusters.
      long clusters = size / clusterSize;
      offset = (long) r.nextInt((int) Math.max(1, clusters)) * clusterSize;
      length = (long) (1 + r.nextInt(4)) * clusterSize;
    } else {
      offset = (long) (r.nextDouble() * size);
      length = 1 + r.nextInt(3 * clusterSize);
    }
    if (kind < 17 && r.nextInt(3) == 0) {
      // qemu-io needs 512-byte alignment for some requests; keep a third of them aligned so.
      offset &= ~511L;
      length = (length + 511) & ~511L;
    }
    length = Math.min(length, size - offset);
    if (length == 0) {
      offset = 0;
      length = Math.min(size, 512);
    }
    int pattern = 1 + r.nextInt(254);
    if (kind < 10) {
      return new Op("write", offset, length, pattern);
    } else if (kind < 13) {
      return new Op("zero", offset, length, 0);
    } else if (kind < 16) {
      return new Op("discard", offset, length, 0);
    } else if (kind < 18) {
      long clusters = size / clusterSize;
      long at = (long) r.nextInt((int) Math.max(1, clusters)) * clusterSize;
      return new Op("compressed", at, Math.min(clusterSize, size - at), pattern);
    }
    return new Op("flush", 0, 0, 0);
  }

  static void apply(Qcow2Image img, Op op) throws IOException {
    switch (op.kind()) {
      case "write":
        {
          byte[] b = new byte[(int) op.length()];
          Arrays.fill(b, (byte) op.pattern());
          img.write(ByteBuffer.wrap(b), op.offset());
          break;
        }
      case "zero":
        img.writeZeroes(op.offset(), op.length());
        break;
      case "discard":
        img.discard(op.offset(), op.length());
        break;
      case "compressed":
        {
          byte[] b = new byte[(int) op.length()];
          Arrays.fill(b, (byte) op.pattern());
          img.writeCompressed(ByteBuffer.wrap(b), op.offset());
          break;
        }
      default:
        img.flush();
    }
  }

  /** What each operation does to the guest's view, as qemu defines it. */
  static void applyToModel(
      byte[] model, boolean hasBacking, Op op, int version, int clusterSize, long size) {
    int from = (int) op.offset();
    int to = (int) (op.offset() + op.length());
    switch (op.kind()) {
      case "write":
      case "compressed":
        Arrays.fill(model, from, to, (byte) op.pattern());
        break;
      case "zero":
        Arrays.fill(model, from, to, (byte) 0);
        break;
      case "discard":
        {
          // qemu refuses to discard in a version 2 image with a backing file: stale backing data
          // would show through.
          if (version < 3 && hasBacking) {
            break;
          }
          // Only whole clusters are discarded (and the disk's last, partial one).
          long first = (op.offset() + clusterSize - 1) / clusterSize * clusterSize;
          long end = to == size ? size : (long) to / clusterSize * clusterSize;
          for (long c = first; c < end; c += clusterSize) {
            int cEnd = (int) Math.min(size, c + clusterSize);
            Arrays.fill(model, (int) c, cEnd, (byte) 0);
          }
          break;
        }
      default:
        break;
    }
  }

  static void assertReads(DiskImage img, byte[] model, String what) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(model.length);
    img.readFully(b, 0);
    assertModel(model, b.array(), what);
  }

  static void assertModel(byte[] expected, byte[] actual, String what) {
    assertEquals(expected.length, actual.length, what + ": size");
    int mismatch = Arrays.mismatch(expected, actual);
    if (mismatch >= 0) {
      fail(
          what
              + ": first difference at byte "
              + mismatch
              + " (expected "
              + (expected[mismatch] & 0xff)
              + ", found "
              + (actual[mismatch] & 0xff)
              + ")");
    }
    assertArrayEquals(expected, actual);
  }

  static String digest(Path file) throws IOException, NoSuchAlgorithmException {
    return HexFormat.of()
        .formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
  }
}
