package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fuzz findings in {@code check -r all} (fuzz/known-findings), each rebuilt from a qemu-made
 * image with bytes poked: either our repair leaves an image qemu-img check finds clean, or, where
 * nothing may be repaired, our report says so and the image stays byte for byte as it was.
 */
class CheckRepairFindingsTest {
  @TempDir Path dir;

  private static final String OVERLAP = "(metadata overlap; -r all leaves the image as it is)";

  /** An image with one snapshot, 64 KiB clusters, and data written before and after it. */
  private Path withSnapshot() {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "8M");
    Qemu.io(dir, "a.qcow2", "write -c -P 1 0 64k", "write -P 2 1M 64k");
    Qemu.img(dir, "snapshot", "-c", "s1", "a.qcow2");
    // The active L1 table's L2 table is shared with the snapshot: this write copies it.
    Qemu.io(dir, "a.qcow2", "write -P 3 0 64k");
    return dir.resolve("a.qcow2");
  }

  private static long snapshotL1(Path path) throws IOException {
    return Poke.readU64(path, Poke.readU64(path, 64));
  }

  @Test
  void badCompressedDescriptorInSnapshotOnlyL2TableIsCleared() throws IOException {
    Path path = withSnapshot();
    long activeL2 = Poke.readU64(path, Poke.readU64(path, 40)) & L1Entry.OFFSET_MASK;
    long snapshotL2 = Poke.readU64(path, snapshotL1(path)) & L1Entry.OFFSET_MASK;
    assertNotEquals(activeL2, snapshotL2, "the snapshot's L2 table must be its own");
    // Entry 5 of the snapshot's L2 table (unallocated): a compressed cluster 1 TiB past the end.
    Poke.u64(path, snapshotL2 + 8 * 5, L2Entry.COMPRESSED | (1L << 40));
    byte[] before = Files.readAllBytes(Qemu.toRaw(dir, "a.qcow2", "before.raw"));
    assertNotEquals(0, Qemu.exec(dir, List.of("qemu-img", "check", "a.qcow2")).exitCode());
    CheckReport ours = ImageChecker.check(path, ImageChecker.Repair.NONE);
    assertTrue(
        ours.messages().stream()
            .anyMatch(m -> m.startsWith("ERROR compressed cluster at 0x10000000000")),
        ours.messages()::toString);

    CheckReport after = ImageChecker.check(path, ImageChecker.Repair.ALL);
    assertTrue(after.isClean(), after.messages()::toString);
    assertEquals(1, after.corruptionsFixed(), after::toString);
    Qemu.Result clean = Qemu.exec(dir, List.of("qemu-img", "check", "a.qcow2"));
    assertEquals(0, clean.exitCode(), clean.stdout() + clean.stderr());
    assertEquals(0L, Poke.readU64(path, snapshotL2 + 8 * 5));
    assertArrayEquals(before, Files.readAllBytes(Qemu.toRaw(dir, "a.qcow2", "after.raw")));
    // The snapshot still reads what was written before it.
    Qemu.img(dir, "snapshot", "-a", "s1", "a.qcow2");
    Qemu.io(dir, "a.qcow2", "read -P 1 0 64k", "read -P 2 1M 64k", "read -P 0 320k 64k");
  }

  @Test
  void activeL1TableOverTheSnapshotTableIsReportedAndLeftAsItIs() throws IOException {
    Path path = withSnapshot();
    Poke.u64(path, 40, Poke.readU64(path, 64)); // l1_table_offset = snapshots_offset
    assertLeftAsItIs(path, "L1 table at 0x", "snapshot table at 0x");
  }

  @Test
  void l2TableOverTheActiveL1TableIsReportedAndLeftAsItIs() throws IOException {
    // 4 GiB: an L1 table of 8 entries (each L2 table maps 512 MiB).
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "4G");
    Qemu.io(dir, "a.qcow2", "write -P 1 0 64k", "write -P 2 4M 64k");
    Path path = dir.resolve("a.qcow2");
    long l1 = Poke.readU64(path, 40);
    // L1 entry 1 names the L1 table as an L2 table, and entry 2 (an L2 entry in that view too)
    // points past the end of the file: clearing it for the one clears it for the other.
    Poke.u64(path, l1 + 8, L1Entry.COPIED | l1);
    Poke.u64(path, l1 + 16, L1Entry.COPIED | (1L << 40));
    assertLeftAsItIs(path, "L1 table at 0x", "L2 table at 0x");
  }

  private void assertLeftAsItIs(Path path, String first, String second) throws IOException {
    byte[] image = Files.readAllBytes(path);
    Qemu.Result qemuBefore = Qemu.exec(dir, List.of("qemu-img", "check", "a.qcow2"));
    CheckReport ours = ImageChecker.check(path, ImageChecker.Repair.NONE);
    assertTrue(
        ours.messages().stream()
            .anyMatch(m -> m.endsWith(OVERLAP) && m.contains(first) && m.contains(second)),
        ours.messages()::toString);
    assertNotEquals(0, ours.exitCode());

    CheckReport after = ImageChecker.check(path, ImageChecker.Repair.ALL);
    assertArrayEquals(image, Files.readAllBytes(path), "-r all wrote through overlapping metadata");
    assertEquals(0, after.corruptionsFixed() + after.leaksFixed(), after::toString);
    assertEquals(ours.messages(), after.messages());
    assertNotEquals(0, after.exitCode());
    Qemu.Result qemuAfter = Qemu.exec(dir, List.of("qemu-img", "check", "a.qcow2"));
    assertEquals(qemuBefore, qemuAfter);
  }
}
