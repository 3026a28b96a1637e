package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Our check counts what qemu-img check counts, on clean and on broken images, and our repairs leave
 * images that qemu-img check finds clean, with the guest content kept.
 */
class ImageCheckerTest {
  @TempDir Path dir;

  static Stream<String> recipes() {
    return Stream.of(
        "plain",
        "small clusters",
        "compressed",
        "snapshots",
        "bitmaps",
        "extended",
        "overlay",
        "refcount1");
  }

  String make(String recipe) throws IOException {
    switch (recipe) {
      case "plain":
        return ReadCompatibilityTest.plain(dir, "cluster_size=65536", 8L << 20);
      case "small clusters":
        return ReadCompatibilityTest.plain(dir, "cluster_size=512", 8L << 20);
      case "compressed":
        return ReadCompatibilityTest.compressedOverwritten(dir);
      case "snapshots":
        return ReadCompatibilityTest.snapshots(dir);
      case "bitmaps":
        return ReadCompatibilityTest.bitmaps(dir);
      case "extended":
        return ReadCompatibilityTest.plain(dir, "extended_l2=on,cluster_size=65536", 8L << 20);
      case "overlay":
        return ReadCompatibilityTest.chain(dir, 2, false, "");
      default:
        return ReadCompatibilityTest.plain(dir, "refcount_bits=1,cluster_size=4096", 8L << 20);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("recipes")
  void countsWhatQemuCountsOnCleanImages(String recipe) throws IOException {
    String image = make(recipe);
    assertSameCounts(image);
  }

  @Test
  void leakIsReportedAndRepaired() throws IOException {
    String image = make("plain");
    Path path = dir.resolve(image);
    // One more cluster at the end of the file, counted but referenced by nothing: a leak.
    long refBlock = Poke.readU64(path, Poke.readU64(path, 48));
    long next = (Files.size(path) + 65535) / 65536;
    Poke.bytes(path, next * 65536, new byte[65536]);
    Poke.u16(path, refBlock + 2 * next, 1);
    CheckReport before = assertSameCounts(image);
    assertEquals(1, before.leaks());
    assertEquals(3, before.exitCode());
    CheckReport after = ImageChecker.check(path, ImageChecker.Repair.LEAKS);
    assertEquals(1, after.leaksFixed());
    assertTrue(after.isClean(), after.messages().toString());
    assertQemuClean(image);
  }

  @Test
  void lostRefcountIsACorruptionAndRepairAllRebuilds() throws IOException {
    String image = make("snapshots");
    Path path = dir.resolve(image);
    byte[] before = Files.readAllBytes(Qemu.toRaw(dir, image, "before.raw"));
    long refBlock = Poke.readU64(path, Poke.readU64(path, 48));
    Poke.u16(path, refBlock + 2 * 6, 0);
    CheckReport broken = assertSameCounts(image);
    assertTrue(broken.corruptions() > 0);
    assertEquals(2, broken.exitCode());
    CheckReport after = ImageChecker.check(path, ImageChecker.Repair.ALL);
    assertTrue(after.isClean(), after.messages().toString());
    assertEquals(broken.corruptions(), after.corruptionsFixed());
    assertQemuClean(image);
    assertEquals(
        -1,
        java.util.Arrays.mismatch(before, Files.readAllBytes(Qemu.toRaw(dir, image, "after.raw"))));
    assertTrue(Qemu.img(dir, "snapshot", "-l", image).contains("second"), "snapshots survive");
  }

  @Test
  void repairAllDropsAnEntryPointingPastTheEndOfTheFile() throws IOException {
    String image = make("plain");
    Path path = dir.resolve(image);
    long l2 = Poke.readU64(path, Poke.readU64(path, 40)) & L1Entry.OFFSET_MASK;
    Poke.u64(path, l2, L2Entry.COPIED | (Files.size(path) + (1L << 30)));
    CheckReport broken = ImageChecker.check(path, ImageChecker.Repair.NONE);
    assertTrue(broken.corruptions() > 0, broken.messages().toString());
    CheckReport after = ImageChecker.check(path, ImageChecker.Repair.ALL);
    assertTrue(after.isClean(), after.messages().toString());
    assertQemuClean(image);
    byte[] first = new byte[65536];
    try (DiskImage img = DiskImage.open(path)) {
      java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(first);
      img.readFully(b, 0);
    }
    assertEquals(
        -1, java.util.Arrays.mismatch(first, new byte[65536]), "the dropped cluster reads zeros");
  }

  @Test
  void repairAllClearsTheCorruptBit() throws IOException {
    String image = make("plain");
    Path path = dir.resolve(image);
    Poke.u64(path, 72, Poke.readU64(path, 72) | 2);
    ImageChecker.check(path, ImageChecker.Repair.ALL);
    assertEquals(0, Poke.readU64(path, 72) & 2);
    assertQemuClean(image);
  }

  /** Our counts equal qemu-img check's JSON on the same image; returns our report. */
  CheckReport assertSameCounts(String image) throws IOException {
    CheckReport ours = ImageChecker.check(dir.resolve(image), ImageChecker.Repair.NONE);
    Qemu.Result r = Qemu.exec(dir, List.of("qemu-img", "check", "--output=json", image));
    Map<String, Long> q = numbers(r.stdout());
    String context = r.stdout() + r.stderr() + "\nours: " + ours;
    assertEquals(q.getOrDefault("corruptions", 0L), (long) ours.corruptions(), context);
    assertEquals(q.getOrDefault("leaks", 0L), (long) ours.leaks(), context);
    assertEquals(q.getOrDefault("image-end-offset", 0L), ours.imageEndOffset(), context);
    assertEquals(q.getOrDefault("total-clusters", 0L), ours.totalClusters(), context);
    assertEquals(q.getOrDefault("allocated-clusters", 0L), ours.allocatedClusters(), context);
    assertEquals(q.getOrDefault("fragmented-clusters", 0L), ours.fragmentedClusters(), context);
    assertEquals(q.getOrDefault("compressed-clusters", 0L), ours.compressedClusters(), context);
    assertEquals(r.exitCode(), ours.exitCode(), context);
    return ours;
  }

  void assertQemuClean(String image) {
    Qemu.Result r = Qemu.exec(dir, List.of("qemu-img", "check", image));
    assertEquals(0, r.exitCode(), r.stdout() + r.stderr());
  }

  static Map<String, Long> numbers(String json) {
    Map<String, Long> m = new HashMap<>();
    Matcher x = Pattern.compile("\"([a-z-]+)\": (\\d+)").matcher(json);
    while (x.find()) {
      m.put(x.group(1), Long.parseLong(x.group(2)));
    }
    return m;
  }
}
