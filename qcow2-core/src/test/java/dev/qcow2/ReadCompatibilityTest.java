package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.convert.ImageConverter;
import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every image here is made by qemu-img and qemu-io at test time; for each, the bytes we read must
 * equal {@code qemu-img convert -O raw}, through whole-disk reads, random unaligned reads, the
 * channel view and the parallel raw converter.
 */
class ReadCompatibilityTest {

  /** Builds an image in a folder and returns the path of the image to read, relative to it. */
  interface Recipe {
    String build(Path dir) throws IOException;
  }

  static final long MiB = 1 << 20;

  static Stream<Arguments> images() {
    List<Arguments> cases = new ArrayList<>();
    int[] refcountBits = {1, 2, 4, 8, 16, 32, 64};
    int r = 0;
    for (String compat : new String[] {"0.10", "1.1"}) {
      for (int cs : new int[] {512, 4096, 65536, 2 << 20}) {
        int bits = compat.equals("0.10") ? 16 : refcountBits[r++ % refcountBits.length];
        cases.add(
            Arguments.of(
                "plain compat=" + compat + " cluster=" + cs + " refcount_bits=" + bits,
                (Recipe)
                    dir ->
                        plain(
                            dir,
                            "compat=" + compat + ",cluster_size=" + cs + ",refcount_bits=" + bits,
                            sizeFor(cs))));
      }
    }
    for (int cs : new int[] {16384, 65536, 2 << 20}) {
      cases.add(
          Arguments.of(
              "extended_l2 cluster=" + cs,
              (Recipe) dir -> plain(dir, "extended_l2=on,cluster_size=" + cs, sizeFor(cs))));
    }
    for (String type : new String[] {"zlib", "zstd"}) {
      for (int cs : new int[] {512, 4096, 65536, 2 << 20}) {
        cases.add(
            Arguments.of(
                "compressed " + type + " cluster=" + cs,
                (Recipe)
                    dir ->
                        compressed(
                            dir, "compression_type=" + type + ",cluster_size=" + cs, sizeFor(cs))));
      }
    }
    cases.add(
        Arguments.of(
            "compressed zlib compat=0.10",
            (Recipe) dir -> compressed(dir, "compat=0.10", 8 * MiB)));
    cases.add(
        Arguments.of(
            "compressed zstd extended_l2",
            (Recipe) dir -> compressed(dir, "compression_type=zstd,extended_l2=on", 8 * MiB)));
    cases.add(
        Arguments.of(
            "compressed then overwritten", (Recipe) ReadCompatibilityTest::compressedOverwritten));
    for (int depth = 1; depth <= 4; depth++) {
      int d = depth;
      cases.add(
          Arguments.of("chain depth " + d + " over raw", (Recipe) dir -> chain(dir, d, true, "")));
      cases.add(
          Arguments.of(
              "chain depth " + d + " over qcow2", (Recipe) dir -> chain(dir, d, false, "")));
    }
    cases.add(
        Arguments.of(
            "chain extended_l2 overlay",
            (Recipe) dir -> chain(dir, 2, false, "extended_l2=on,cluster_size=65536")));
    cases.add(
        Arguments.of(
            "chain extended_l2 2M overlay",
            (Recipe) dir -> chain(dir, 1, false, "extended_l2=on,cluster_size=2M")));
    cases.add(
        Arguments.of("chain compat=0.10", (Recipe) dir -> chain(dir, 2, false, "compat=0.10")));
    cases.add(Arguments.of("backing format probed", (Recipe) ReadCompatibilityTest::probedBacking));
    cases.add(Arguments.of("snapshots", (Recipe) ReadCompatibilityTest::snapshots));
    cases.add(Arguments.of("bitmaps", (Recipe) ReadCompatibilityTest::bitmaps));
    cases.add(Arguments.of("data_file", (Recipe) dir -> dataFile(dir, false)));
    cases.add(Arguments.of("data_file_raw", (Recipe) dir -> dataFile(dir, true)));
    cases.add(Arguments.of("dirty bit", (Recipe) ReadCompatibilityTest::dirty));
    cases.add(
        Arguments.of(
            "preallocation=metadata",
            (Recipe) dir -> plain(dir, "preallocation=metadata", 8 * MiB)));
    cases.add(
        Arguments.of(
            "preallocation=full", (Recipe) dir -> plain(dir, "preallocation=full", 8 * MiB)));
    cases.add(
        Arguments.of(
            "header_length 120 with unknown bytes", (Recipe) ReadCompatibilityTest::longHeader));
    cases.add(
        Arguments.of(
            "odd virtual size", (Recipe) dir -> plain(dir, "cluster_size=4096", 5 * MiB + 512)));
    return cases.stream();
  }

  static long sizeFor(int clusterSize) {
    return clusterSize >= (2 << 20) ? 64 * MiB : 8 * MiB;
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("images")
  void readsWhatQemuReads(String name, Recipe recipe, @TempDir Path dir) throws IOException {
    String image = recipe.build(dir);
    Path raw = Qemu.toRaw(dir, image, "expected.raw");
    Path path = dir.resolve(image);
    try (DiskImage img = DiskImage.open(path)) {
      assertEquals(Files.size(raw), img.size(), "virtual size");
      assertWholeDiskEquals(img, raw);
      assertRandomReadsEqual(img, raw, name.hashCode());
      assertChannelEquals(img, raw);
      Path converted = dir.resolve("ours.raw");
      ImageConverter.toRaw(img, converted, 2, null);
      assertFilesEqual(raw, converted);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Recipes

  static String plain(Path dir, String options, long size) {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", options, "img.qcow2", Long.toString(size));
    List<String> cmds =
        new ArrayList<>(
            List.of(
                "write -P 0x11 0 5000",
                "write -P 0x22 70000 100000",
                "write -P 0x33 1048576 65536",
                "write -z 1114112 65536",
                "write -P 0x44 3000000 1234567",
                "discard 3145728 1048576",
                "write -P 0x66 4608 1024",
                "write -P 0x55 " + (size - 4096) + " 4096"));
    if (size > 32 * MiB) {
      cmds.add("write -P 0x77 " + (33 * MiB + 1000) + " 3000000");
      cmds.add("write -z " + (40 * MiB) + " " + (4 * MiB));
    }
    Qemu.io(dir, "img.qcow2", cmds.toArray(new String[0]));
    return "img.qcow2";
  }

  static String compressed(Path dir, String options, long size) throws IOException {
    TestData.writeRaw(dir.resolve("src.raw"), size, size ^ options.hashCode());
    Qemu.img(dir, "convert", "-c", "-O", "qcow2", "-o", options, "src.raw", "img.qcow2");
    return "img.qcow2";
  }

  static String compressedOverwritten(Path dir) throws IOException {
    compressed(dir, "cluster_size=65536", 8 * MiB);
    // Partial writes into compressed clusters make qemu decompress, merge and store them plainly.
    Qemu.io(
        dir,
        "img.qcow2",
        "write -P 0x99 100000 5000",
        "write -z 2000000 70000",
        "discard 4194304 65536");
    return "img.qcow2";
  }

  /**
   * A chain of {@code depth} overlays over a base in its own folder, each overlay in its own folder
   * naming its backing file relatively. The top is larger than the base.
   */
  static String chain(Path dir, int depth, boolean rawBase, String overlayOptions)
      throws IOException {
    Files.createDirectories(dir.resolve("l0"));
    String below;
    String belowFormat;
    if (rawBase) {
      TestData.writeRaw(dir.resolve("l0/base.raw"), 6 * MiB, 7);
      below = "l0/base.raw";
      belowFormat = "raw";
    } else {
      compressed(dir, "cluster_size=65536", 6 * MiB);
      Files.move(dir.resolve("img.qcow2"), dir.resolve("l0/base.qcow2"));
      Qemu.io(dir, "l0/base.qcow2", "write -P 0xb0 65536 65536", "write -z 131072 65536");
      below = "l0/base.qcow2";
      belowFormat = "qcow2";
    }
    for (int level = 1; level <= depth; level++) {
      Path folder = dir.resolve("l" + level);
      Files.createDirectories(folder);
      String name = "l" + level + "/layer.qcow2";
      String backingName = "../" + below;
      long size = (6 + 2L * level) * MiB;
      List<String> create =
          new ArrayList<>(
              List.of("create", "-q", "-f", "qcow2", "-b", backingName, "-F", belowFormat));
      if (!overlayOptions.isEmpty()) {
        create.add("-o");
        create.add(overlayOptions);
      }
      create.add(name);
      create.add(Long.toString(size));
      Qemu.img(dir, create.toArray(new String[0]));
      long step = 300000L * level;
      Qemu.io(
          dir,
          name,
          "write -P 0x" + Integer.toHexString(0xc0 + level) + " " + step + " 4096",
          "write -P 0x"
              + Integer.toHexString(0xd0 + level)
              + " "
              + (2 * MiB + 512 * level)
              + " 70000",
          "write -z " + (3 * MiB + 65536L * level) + " 65536",
          "discard " + (4 * MiB) + " " + (65536L * level),
          "write -P 0xee " + (size - 8192) + " 8192");
      below = name;
      belowFormat = "qcow2";
    }
    return below;
  }

  static String probedBacking(Path dir) throws IOException {
    plain(dir, "cluster_size=65536", 8 * MiB);
    Files.move(dir.resolve("img.qcow2"), dir.resolve("base.qcow2"));
    Qemu.img(
        dir, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2", "8M");
    Qemu.io(dir, "top.qcow2", "write -P 0x12 1000000 100000");
    // Turn the backing format extension into an unknown one: readers must skip it and probe.
    Path top = dir.resolve("top.qcow2");
    assertEquals(0xE2792ACAL, Poke.readU32(top, 112), "qemu writes the backing format first");
    Poke.u32(top, 112, 0x0badcafeL);
    return "top.qcow2";
  }

  static String snapshots(Path dir) {
    plain(dir, "cluster_size=65536", 8 * MiB);
    Qemu.img(dir, "snapshot", "-c", "first", "img.qcow2");
    Qemu.io(dir, "img.qcow2", "write -P 0x71 0 100000", "write -z 3000000 65536");
    Qemu.img(dir, "snapshot", "-c", "second", "img.qcow2");
    Qemu.io(dir, "img.qcow2", "write -P 0x72 50000 10000", "discard 1048576 65536");
    return "img.qcow2";
  }

  static String bitmaps(Path dir) {
    plain(dir, "cluster_size=65536", 8 * MiB);
    Qemu.img(dir, "bitmap", "--add", "img.qcow2", "b0");
    Qemu.img(dir, "bitmap", "--add", "-g", "131072", "img.qcow2", "b1");
    return "img.qcow2";
  }

  static String dataFile(Path dir, boolean raw) {
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "data_file=img.data,data_file_raw=" + (raw ? "on" : "off"),
        "img.qcow2",
        "8M");
    Qemu.io(
        dir,
        "img.qcow2",
        "write -P 0x21 0 70000",
        "write -P 0x22 3000000 100000",
        "write -z 3000000 4096");
    return "img.qcow2";
  }

  static String dirty(Path dir) throws IOException {
    plain(dir, "lazy_refcounts=on", 8 * MiB);
    Path img = dir.resolve("img.qcow2");
    Poke.u64(img, 72, Poke.readU64(img, 72) | 1);
    return "img.qcow2";
  }

  /** Moves the extensions 8 bytes up and claims a 120-byte header with unknown bytes 112..119. */
  static String longHeader(Path dir) throws IOException {
    plain(dir, "cluster_size=65536", 8 * MiB);
    Path img = dir.resolve("img.qcow2");
    byte[] ext = new byte[2048];
    try (FileChannel ch = FileChannel.open(img)) {
      ch.read(ByteBuffer.wrap(ext), 112);
    }
    Poke.bytes(img, 120, ext);
    Poke.u64(img, 112, 0x0123456789abcdefL);
    Poke.u32(img, 100, 120);
    return "img.qcow2";
  }

  // ---------------------------------------------------------------------------------------------
  // Comparisons

  static void assertWholeDiskEquals(DiskImage img, Path raw) throws IOException {
    try (FileChannel expected = FileChannel.open(raw)) {
      ByteBuffer ours = ByteBuffer.allocate(1 << 20);
      ByteBuffer theirs = ByteBuffer.allocate(1 << 20);
      for (long at = 0; at < img.size(); at += ours.capacity()) {
        ours.clear();
        theirs.clear();
        int n = img.read(ours, at);
        expected.read(theirs, at);
        assertEquals(Math.min(ours.capacity(), img.size() - at), n, "bytes read at " + at);
        long where = at;
        assertEquals(theirs.flip(), ours.flip(), () -> "content differs in the MiB at " + where);
      }
      assertEquals(-1, img.read(ByteBuffer.allocate(1), img.size()), "read at the end");
    }
  }

  static void assertRandomReadsEqual(DiskImage img, Path raw, long seed) throws IOException {
    Random random = new Random(seed);
    try (FileChannel expected = FileChannel.open(raw)) {
      for (int i = 0; i < 200; i++) {
        long at = (long) (random.nextDouble() * img.size());
        int len = (int) Math.min(img.size() - at, 1 + random.nextInt(300_000));
        ByteBuffer ours =
            random.nextBoolean() ? ByteBuffer.allocate(len) : ByteBuffer.allocateDirect(len);
        ByteBuffer theirs = ByteBuffer.allocate(len);
        img.readFully(ours, at);
        expected.read(theirs, at);
        long where = at;
        assertEquals(
            theirs.flip(), ours.flip(), () -> "seed " + seed + ": " + len + " bytes at " + where);
      }
    }
  }

  static void assertChannelEquals(DiskImage img, Path raw) throws IOException {
    try (var channel = img.channel()) {
      long at = img.size() / 3;
      channel.position(at);
      ByteBuffer ours = ByteBuffer.allocate(100_000);
      int n = channel.read(ours);
      assertTrue(n > 0);
      assertEquals(at + n, channel.position());
      ByteBuffer theirs = ByteBuffer.allocate(n);
      try (FileChannel expected = FileChannel.open(raw)) {
        expected.read(theirs, at);
      }
      assertEquals(theirs.flip(), ours.flip(), "channel read");
    }
  }

  static void assertFilesEqual(Path expected, Path actual) throws IOException {
    assertEquals(Files.size(expected), Files.size(actual), "size of " + actual);
    try (FileChannel a = FileChannel.open(expected);
        FileChannel b = FileChannel.open(actual)) {
      ByteBuffer x = ByteBuffer.allocate(1 << 20);
      ByteBuffer y = ByteBuffer.allocate(1 << 20);
      for (long at = 0; at < a.size(); at += x.capacity()) {
        x.clear();
        y.clear();
        a.read(x, at);
        b.read(y, at);
        long where = at;
        assertArrayEquals(x.array(), y.array(), () -> actual + " differs in the MiB at " + where);
      }
    }
  }
}
