package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.ChildJvm;
import dev.qcow2.testing.Qemu;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Persistent dirty bitmaps against qemu 7.2: the same writes through this library and through
 * qemu-io leave the same bits, as qemu-nbd exports them ({@code qemu:dirty-bitmap:NAME} read by
 * nbdinfo); every image passes {@code qemu-img check}; a writer that dies leaves its bitmaps
 * flagged in use. Seeds print on failure; {@code -Dqcow2.seed=N} replays one.
 */
public class BitmapTest {
  static final long SIZE = 8L << 20;

  static Stream<Long> seeds() {
    Long fixed = Long.getLong("qcow2.seed");
    return fixed != null
        ? Stream.of(fixed)
        : LongStream.range(0, 6).map(i -> 0x5DEECE66DL * (i + 7)).boxed();
  }

  /** One operation, as our API and qemu-io take it. */
  record Op(String kind, long offset, long length, int pattern) {
    String qemuIo() {
      return switch (kind) {
        case "write" -> "write -P " + pattern + " " + offset + " " + length;
        case "zero" -> "write -z " + offset + " " + length;
        default -> "discard " + offset + " " + length;
      };
    }

    void apply(Qcow2Image img) throws Exception {
      switch (kind) {
        case "write" -> {
          byte[] b = new byte[(int) length];
          Arrays.fill(b, (byte) pattern);
          img.write(ByteBuffer.wrap(b), offset);
        }
        case "zero" -> img.writeZeroes(offset, length);
        default -> img.discard(offset, length);
      }
    }
  }

  static List<Op> ops(Random r, int n) {
    List<Op> ops = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int k = r.nextInt(10);
      String kind = k < 6 ? "write" : k < 8 ? "zero" : "discard";
      long offset;
      long length;
      if (kind.equals("write") && r.nextBoolean()) {
        offset = r.nextLong(SIZE - 1);
        length = 1 + r.nextLong(Math.min(200_000, SIZE - offset));
      } else {
        offset = 512L * r.nextInt((int) (SIZE / 512));
        length = 512L * (1 + r.nextInt((int) Math.min(1024, (SIZE - offset) / 512)));
      }
      ops.add(new Op(kind, offset, length, 1 + r.nextInt(250)));
    }
    return ops;
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  @Timeout(value = 3, unit = TimeUnit.MINUTES)
  void randomWritesSetTheSameBitsAsQemu(long seed, @TempDir Path dir) throws Exception {
    try {
      sameBitsAsQemu(seed, dir);
    } catch (AssertionError | Exception e) {
      throw new AssertionError("seed " + seed + ": " + e.getMessage(), e);
    }
  }

  private static void sameBitsAsQemu(long seed, Path dir) throws Exception {
    Random r = new Random(seed);
    String cluster = r.nextBoolean() ? "65536" : "4096";
    String create = "create -q -f qcow2 -o cluster_size=" + cluster + " base.qcow2 " + SIZE;
    Qemu.img(dir, create.split(" "));
    Qemu.img(dir, "bitmap", "--add", "-g", "65536", "base.qcow2", "b1");
    Qemu.img(dir, "bitmap", "--add", "-g", r.nextBoolean() ? "512" : "4096", "base.qcow2", "b2");
    Qemu.img(dir, "bitmap", "--add", "-g", "8192", "base.qcow2", "off");
    List<String> first = new ArrayList<>();
    for (Op op : ops(r, 5)) {
      first.add(op.qemuIo());
    }
    Qemu.io(dir, "base.qcow2", first.toArray(String[]::new));
    Qemu.img(dir, "bitmap", "--disable", "base.qcow2", "off");
    Files.copy(dir.resolve("base.qcow2"), dir.resolve("ours.qcow2"));
    Files.copy(dir.resolve("base.qcow2"), dir.resolve("theirs.qcow2"));

    for (int session = 0; session < 2; session++) {
      List<Op> ops = ops(r, 15);
      try (Qcow2Image img = Qcow2Image.open(dir.resolve("ours.qcow2"), writable())) {
        for (Op op : ops) {
          op.apply(img);
        }
      }
      Qemu.io(dir, "theirs.qcow2", ops.stream().map(Op::qemuIo).toArray(String[]::new));
      check(dir, "ours.qcow2");
    }
    Qemu.img(dir, "compare", "-q", "ours.qcow2", "theirs.qcow2");
    assertEquals(info(dir, "theirs.qcow2"), info(dir, "ours.qcow2"));
    try (Qcow2Image img = Qcow2Image.open(dir.resolve("ours.qcow2"))) {
      for (String b : List.of("b1", "b2", "off")) {
        List<BitmapExtent> theirs = nbdDirty(dir, "theirs.qcow2", b);
        assertEquals(theirs, nbdDirty(dir, "ours.qcow2", b), b);
        assertEquals(theirs, img.dirtyBitmaps().dirtyExtents(b), b);
        assertFalse(theirs.isEmpty(), b);
      }
    }
  }

  static OpenOptions writable() {
    return OpenOptions.builder().writable(true).build();
  }

  public static void check(Path dir, String image) {
    Qemu.Result r = Qemu.exec(dir, List.of("qemu-img", "check", image));
    assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
    assertTrue(r.stdout().contains("No errors were found"), r.stdout());
    try {
      CheckReport ours = ImageChecker.check(dir.resolve(image), ImageChecker.Repair.NONE);
      assertTrue(ours.isClean(), ours.toString()); // our own check counts bitmap clusters too
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** qemu-img info's bitmaps as qemu prints them. */
  public static String info(Path dir, String image) {
    String out = Qemu.img(dir, "info", "--output=json", image);
    int at = out.indexOf("\"bitmaps\"");
    return at < 0
        ? ""
        : out.substring(at, out.indexOf(']', out.indexOf("\"granularity\"", at) + 1));
  }

  /** The dirty runs of a bitmap, as qemu-nbd exports them and nbdinfo reads them. */
  public static List<BitmapExtent> nbdDirty(Path dir, String image, String bitmap) {
    String out =
        Qemu.run(
            dir,
            "nbdinfo",
            "--map=qemu:dirty-bitmap:" + bitmap,
            "--",
            "[",
            "qemu-nbd",
            "-r",
            "-f",
            "qcow2",
            "-B",
            bitmap,
            image,
            "]");
    List<BitmapExtent> dirty = new ArrayList<>();
    for (String line : out.split("\n")) {
      String[] f = line.trim().split("\\s+");
      if (f.length >= 3 && f[2].equals("1")) {
        long offset = Long.parseLong(f[0]);
        long length = Long.parseLong(f[1]);
        BitmapExtent last = dirty.isEmpty() ? null : dirty.get(dirty.size() - 1);
        if (last != null && last.offset() + last.length() == offset) {
          dirty.set(dirty.size() - 1, new BitmapExtent(last.offset(), last.length() + length));
        } else {
          dirty.add(new BitmapExtent(offset, length));
        }
      }
    }
    return dirty;
  }

  @Test
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void aBitmapQemuMadeIsUpdatedAndQemuReadsIt(@TempDir Path dir) throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "" + SIZE);
    Qemu.img(dir, "bitmap", "--add", "a.qcow2", "b");
    Qemu.io(dir, "a.qcow2", "write -P 1 0 64k");
    try (Qcow2Image img = Qcow2Image.open(dir.resolve("a.qcow2"), writable())) {
      img.write(ByteBuffer.wrap(new byte[4096]), 1 << 20);
      // While we write, the file says in use, as qemu's does.
      assertTrue(info(dir, "a.qcow2", "-U").contains("in-use"));
      assertEquals(
          List.of(new BitmapExtent(0, 65536), new BitmapExtent(1 << 20, 65536)),
          img.dirtyBitmaps().dirtyExtents("b"));
    }
    check(dir, "a.qcow2");
    assertFalse(info(dir, "a.qcow2").contains("in-use"));
    assertEquals(
        List.of(new BitmapExtent(0, 65536), new BitmapExtent(1 << 20, 65536)),
        nbdDirty(dir, "a.qcow2", "b"));
    // qemu then keeps updating what we stored.
    Qemu.io(dir, "a.qcow2", "write -P 2 2M 1");
    assertEquals(3, nbdDirty(dir, "a.qcow2", "b").size());
  }

  @Test
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void bitmapsFollowAResizeAsQemusDo(@TempDir Path dir) throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "ours.qcow2", "" + SIZE);
    Qemu.img(dir, "bitmap", "--add", "-g", "512", "ours.qcow2", "fine");
    Qemu.img(dir, "bitmap", "--add", "ours.qcow2", "coarse");
    Qemu.io(dir, "ours.qcow2", "write -P 1 1M 3000");
    Files.copy(dir.resolve("ours.qcow2"), dir.resolve("theirs.qcow2"));
    long grown = SIZE + (600L << 20);
    try (Qcow2Image img = Qcow2Image.open(dir.resolve("ours.qcow2"), writable())) {
      img.resize(grown);
      img.write(ByteBuffer.wrap(new byte[70_000]), grown - 100_000);
    }
    Qemu.img(dir, "resize", "-q", "theirs.qcow2", "" + grown);
    Qemu.io(dir, "theirs.qcow2", "write -P 0 " + (grown - 100_000) + " 70000");
    check(dir, "ours.qcow2");
    assertEquals(info(dir, "theirs.qcow2"), info(dir, "ours.qcow2"));
    for (String b : List.of("fine", "coarse")) {
      assertEquals(nbdDirty(dir, "theirs.qcow2", b), nbdDirty(dir, "ours.qcow2", b), b);
    }
  }

  @Test
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void amendKeepsTheBitmapsOfAVersion3Image(@TempDir Path dir) throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "" + SIZE);
    Qemu.img(dir, "bitmap", "--add", "a.qcow2", "b");
    Qemu.io(dir, "a.qcow2", "write -P 1 0 64k", "write -z 1M 64k");
    Path a = dir.resolve("a.qcow2");
    Qcow2Image.amend(a, AmendOptions.builder().refcountBits(8).build());
    Qcow2Image.amend(a, AmendOptions.builder().lazyRefcounts(true).build());
    check(dir, "a.qcow2");
    assertFalse(info(dir, "a.qcow2").contains("in-use"));
    assertEquals(
        List.of(new BitmapExtent(0, 65536), new BitmapExtent(1 << 20, 65536)),
        nbdDirty(dir, "a.qcow2", "b"));
    // Down to version 2, which has no bitmaps: qemu-img amend drops them too.
    Qcow2Image.amend(
        a, AmendOptions.builder().version(2).lazyRefcounts(false).refcountBits(16).build());
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "a.qcow2"));
    assertTrue(check.exitCode() == 0 || check.exitCode() == 3, check.stdout() + check.stderr());
    Qemu.io(dir, "a.qcow2", "read -P 1 0 64k");
  }

  @Test
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void bitmapsAddedAndRemovedBeforeTheFirstWriteOfAnOpen(@TempDir Path dir) throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "" + SIZE);
    Qemu.img(dir, "bitmap", "--add", "a.qcow2", "gone");
    Qemu.img(dir, "bitmap", "--add", "a.qcow2", "kept");
    try (Qcow2Image img = Qcow2Image.open(dir.resolve("a.qcow2"), writable())) {
      img.dirtyBitmaps().remove("gone");
      img.dirtyBitmaps().add("new", 4096, true);
      img.write(ByteBuffer.wrap(new byte[100]), 5000);
      assertEquals(List.of(new BitmapExtent(4096, 4096)), img.dirtyBitmaps().dirtyExtents("new"));
      assertThrows(IllegalArgumentException.class, () -> img.dirtyBitmaps().dirtyExtents("gone"));
    }
    check(dir, "a.qcow2");
    String info = info(dir, "a.qcow2");
    assertFalse(info.contains("gone") || info.contains("in-use"), info);
    assertEquals(List.of(new BitmapExtent(4096, 4096)), nbdDirty(dir, "a.qcow2", "new"));
    assertEquals(List.of(new BitmapExtent(0, 65536)), nbdDirty(dir, "a.qcow2", "kept"));
  }

  static String info(Path dir, String image, String shared) {
    return Qemu.img(dir, "info", shared, "--output=json", image);
  }

  @Test
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void aWriterKilledMidWriteLeavesItsBitmapsInUse(@TempDir Path dir) throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "c.qcow2", "64M");
    Qemu.img(dir, "bitmap", "--add", "c.qcow2", "on");
    Qemu.img(dir, "bitmap", "--add", "--disable", "c.qcow2", "off");
    Process child =
        new ProcessBuilder(
                ChildJvm.command(CrashWriter.class, dir.resolve("c.qcow2").toString(), "42"))
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start();
    try (BufferedReader out =
        new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = out.readLine()) != null && !line.equals("op 30")) {
        // the writer is running
      }
      child.toHandle().destroyForcibly();
      child.waitFor();
    }
    String info = Qemu.img(dir, "info", "c.qcow2");
    assertEquals(2, info.split("in-use", -1).length - 1, info);
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "c.qcow2"));
    assertTrue(check.exitCode() == 0 || check.exitCode() == 3, check.stdout()); // leaks at most
    // Like qemu, we list them in use, refuse to read them, and leave them as they are.
    try (Qcow2Image img = Qcow2Image.open(dir.resolve("c.qcow2"), writable())) {
      assertTrue(img.bitmaps().stream().allMatch(Bitmap::inUse));
      assertThrows(IllegalStateException.class, () -> img.dirtyBitmaps().dirtyExtents("on"));
      img.write(ByteBuffer.wrap(new byte[512]), 0);
    }
    assertEquals(2, Qemu.img(dir, "info", "c.qcow2").split("in-use", -1).length - 1);
    // Removing is what qemu allows; the rest is freed.
    try (Qcow2Image img = Qcow2Image.open(dir.resolve("c.qcow2"), writable())) {
      img.dirtyBitmaps().remove("on");
      img.dirtyBitmaps().remove("off");
    }
    Qemu.Result after = Qemu.exec(dir, List.of("qemu-img", "check", "c.qcow2"));
    assertTrue(after.exitCode() == 0 || after.exitCode() == 3, after.stdout());
    assertFalse(Qemu.img(dir, "info", "c.qcow2").contains("bitmaps"));
  }
}
