package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The damage corpus: qemu-made images with bytes poked. For each, our check reports the counts and
 * exit code qemu-img check reports; after our {@code -r all} qemu-img check finds the image clean,
 * and every byte that was readable before reads the same.
 */
class DamageCorpusTest {
  @TempDir Path dir;

  @ParameterizedTest(name = "{0}")
  @ValueSource(
      strings = {
        "refcount zero",
        "refcount raised",
        "two entries share a cluster",
        "entry past the end",
        "COPIED cleared",
        "L1 COPIED cleared",
        "refcount block over the L1 table"
      })
  void checkCountsAsQemuAndRepairAllLeavesItClean(String damage) throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "8M");
    Qemu.io(
        dir,
        "a.qcow2",
        "write -P 1 0 64k",
        "write -P 2 64k 64k",
        "write -P 3 1M 64k",
        "write -P 4 5M 128k");
    Path path = dir.resolve("a.qcow2");
    long l1 = Poke.readU64(path, 40);
    long l2 = Poke.readU64(path, l1) & L1Entry.OFFSET_MASK;
    long refTable = Poke.readU64(path, 48);
    long refBlock = Poke.readU64(path, refTable);
    long data0 = Poke.readU64(path, l2) & L2Entry.OFFSET_MASK;
    boolean readableAfter = true;
    switch (damage) {
      case "refcount zero" -> Poke.u16(path, refBlock + 2 * (data0 >>> 16), 0);
      case "refcount raised" -> Poke.u16(path, refBlock + 2 * (data0 >>> 16), 2);
      case "two entries share a cluster" -> Poke.u64(path, l2 + 8 * 16, Poke.readU64(path, l2));
      case "entry past the end" -> {
        Poke.u64(path, l2 + 8 * 80, L2Entry.COPIED | (Files.size(path) + (1L << 30)));
        readableAfter = false; // qemu cannot read that cluster before; after repair it reads zeros
      }
      case "COPIED cleared" -> Poke.u64(path, l2, Poke.readU64(path, l2) & ~L2Entry.COPIED);
      case "L1 COPIED cleared" -> Poke.u64(path, l1, Poke.readU64(path, l1) & ~L1Entry.COPIED);
      case "refcount block over the L1 table" -> Poke.u64(path, refTable, l1);
      default -> throw new IllegalArgumentException(damage);
    }
    byte[] before =
        readableAfter ? Files.readAllBytes(Qemu.toRaw(dir, "a.qcow2", "before.raw")) : null;
    Qemu.Result q = Qemu.exec(dir, List.of("qemu-img", "check", "--output=json", "a.qcow2"));
    CheckReport ours = ImageChecker.check(path, ImageChecker.Repair.NONE);
    Map<String, Long> theirs = ImageCheckerTest.numbers(q.stdout());
    String context =
        damage + ": qemu " + q.stdout() + q.stderr() + "\nours: " + ours + " " + ours.messages();
    assertEquals(q.exitCode(), ours.exitCode(), context);
    assertEquals(theirs.getOrDefault("corruptions", 0L), (long) ours.corruptions(), context);
    assertEquals(theirs.getOrDefault("leaks", 0L), (long) ours.leaks(), context);
    CheckReport after = ImageChecker.check(path, ImageChecker.Repair.ALL);
    assertTrue(after.isClean(), damage + ": " + after.messages());
    Qemu.Result clean = Qemu.exec(dir, List.of("qemu-img", "check", "a.qcow2"));
    assertEquals(0, clean.exitCode(), damage + ": " + clean.stdout() + clean.stderr());
    if (before != null) {
      assertArrayEquals(
          before, Files.readAllBytes(Qemu.toRaw(dir, "a.qcow2", "after.raw")), damage);
    }
  }
}
