package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Reading an internal snapshot instead of the active layer (qemu-img convert -l): the same bytes as
 * qemu-img's, at the image's current size, with the backing file under it; a damaged snapshot L1
 * table is refused as the active one is.
 */
class SnapshotReadTest {
  @TempDir Path dir;

  /**
   * base.qcow2 under top.qcow2 (qemu's -o options given); top's snapshot 1 holds plain, compressed
   * and zero clusters and a hole onto the base; after it, the disk changes and grows from 4 MiB to
   * 12 MiB (qemu grows no version 2 image that has snapshots: those stay at 4 MiB), and snapshot 2
   * ("after") is taken.
   */
  private void images(String options) {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", options, "base.qcow2", "4M");
    Qemu.io(dir, "base.qcow2", "write -P 7 0 4M");
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        options,
        "-b",
        "base.qcow2",
        "-F",
        "qcow2",
        "top.qcow2");
    Qemu.io(
        dir,
        "top.qcow2",
        "write -P 1 0 64k",
        "write -c -P 2 1M 64k",
        "write -z 2M 64k",
        "write -P 3 3M 4k");
    Qemu.img(dir, "snapshot", "-c", "first", "top.qcow2");
    Qemu.io(dir, "top.qcow2", "write -P 4 0 128k", "discard 1M 64k", "write -P 5 3M 4k");
    boolean grows = !options.contains("compat=0.10");
    if (grows) {
      Qemu.img(dir, "resize", "-q", "top.qcow2", "12M");
    }
    Qemu.io(dir, "top.qcow2", "write -P 6 " + (grows ? "10M" : "3M") + " 64k");
    Qemu.img(dir, "snapshot", "-c", "after", "top.qcow2");
    Qemu.io(dir, "top.qcow2", "write -P 8 " + (grows ? "10M" : "3M") + " 4k");
  }

  private byte[] ours(OpenOptions options) throws IOException {
    try (Qcow2Image image = Qcow2Image.open(dir.resolve("top.qcow2"), options)) {
      ByteBuffer all = ByteBuffer.allocate((int) image.size());
      image.readFully(all, 0);
      return all.array();
    }
  }

  private byte[] qemu(String param) throws IOException {
    Path out = dir.resolve("q.raw");
    Files.deleteIfExists(out);
    Qemu.img(dir, "convert", "-l", param, "-O", "raw", "top.qcow2", "q.raw");
    return Files.readAllBytes(out);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "compat=1.1",
        "compat=0.10",
        "cluster_size=16384,extended_l2=on",
        "refcount_bits=2",
        "cluster_size=4096",
        "compression_type=zstd"
      })
  void aSnapshotReadsAsQemuReadsIt(String options) throws Exception {
    images(options);
    byte[] first = qemu("snapshot.name=first");
    assertEquals(
        options.contains("compat=0.10") ? 4 << 20 : 12 << 20,
        first.length,
        "qemu reads a snapshot at the current size");
    assertEquals(7, first[2 * 65536 + 5], "the base shows through the snapshot's holes");
    assertArrayEquals(first, ours(OpenOptions.builder().snapshot("first").build()));
    assertArrayEquals(first, ours(OpenOptions.builder().snapshot("1").build()));
    assertArrayEquals(first, ours(OpenOptions.builder().snapshot("1", "first").build()));
    assertArrayEquals(
        qemu("snapshot.id=2"), ours(OpenOptions.builder().snapshot(null, "after").build()));
    assertArrayEquals(
        Files.readAllBytes(Qemu.toRaw(dir, "top.qcow2", "active.raw")),
        ours(OpenOptions.defaults()));
  }

  @Test
  void aSnapshotThatIsNotThereIsNamedInTheError() throws Exception {
    images("compat=1.1");
    Path top = dir.resolve("top.qcow2");
    NoSuchSnapshotException byName =
        assertThrows(
            NoSuchSnapshotException.class,
            () -> Qcow2Image.open(top, OpenOptions.builder().snapshot("nope").build()));
    assertEquals(top + ": Can't find the snapshot 'nope'", byName.getMessage());
    NoSuchSnapshotException both =
        assertThrows(
            NoSuchSnapshotException.class,
            () -> Qcow2Image.open(top, OpenOptions.builder().snapshot("1", "after").build()));
    assertEquals(
        top + ": Can't find the snapshot with id '1' and named 'after'", both.getMessage());
    assertThrows(
        IllegalArgumentException.class,
        () -> OpenOptions.builder().snapshot("first").writable(true).build());
    Files.write(dir.resolve("disk.raw"), new byte[4096]);
    assertThrows(
        UnsupportedOperationException.class,
        () ->
            DiskImage.open(
                dir.resolve("disk.raw"), OpenOptions.builder().snapshot("first").build()));
  }

  /** Where snapshot 1's L1 table offset and size lie in the file. */
  private static long firstEntry(Path image) throws IOException {
    return Poke.readU64(image, 64); // snapshots_offset; the first entry starts there
  }

  @Test
  void aDamagedSnapshotL1TableIsRefusedWithItsOffset() throws Exception {
    images("compat=1.1");
    Path top = dir.resolve("top.qcow2");
    long entry = firstEntry(top);
    long l1 = Poke.readU64(top, entry);
    OpenOptions first = OpenOptions.builder().snapshot("first").build();

    Poke.u64(top, entry, l1 + 8);
    CorruptImageException misaligned =
        assertThrows(CorruptImageException.class, () -> Qcow2Image.open(top, first));
    assertTrue(
        misaligned.getMessage().contains("L1 table of snapshot '1' is not cluster-aligned"),
        misaligned.getMessage());
    assertTrue(misaligned.getMessage().contains(Long.toHexString(l1 + 8)), misaligned.getMessage());

    Poke.u64(top, entry, 1L << 40);
    CorruptImageException outside =
        assertThrows(CorruptImageException.class, () -> Qcow2Image.open(top, first));
    assertTrue(outside.getMessage().contains("lies outside the file"), outside.getMessage());

    // An offset near 2^63 with a table that would wrap past it.
    Poke.u64(top, entry, 0x7FFFFFFFFFFF0000L);
    Poke.u32(top, entry + 8, 0x2000);
    CorruptImageException wraps =
        assertThrows(CorruptImageException.class, () -> Qcow2Image.open(top, first));
    assertTrue(wraps.getMessage().contains("lies outside the file"), wraps.getMessage());

    Poke.u64(top, entry, l1);
    Poke.u32(top, entry + 8, 0xffffffffL);
    ImageLimitException huge =
        assertThrows(ImageLimitException.class, () -> Qcow2Image.open(top, first));
    assertTrue(huge.getMessage().contains("4294967295 entries"), huge.getMessage());

    // The active layer never needed the snapshot's table, and still reads.
    try (Qcow2Image image = Qcow2Image.open(top)) {
      assertEquals(12 << 20, image.size());
    }
  }

  @Test
  void aSnapshotMatchedByIdWhoseTableIsMisplacedGivesWayToOneByThatName() throws Exception {
    images("compat=1.1");
    Path top = dir.resolve("top.qcow2");
    Qemu.img(dir, "snapshot", "-c", "1", "top.qcow2"); // id 3, named "1"
    Qemu.io(dir, "top.qcow2", "write -P 9 0 64k");
    byte[] named = qemu("snapshot.id=3");
    long entry = firstEntry(top);
    Poke.u64(top, entry, Poke.readU64(top, entry) + 512);
    assertArrayEquals(qemu("1"), named, "qemu reads the snapshot named 1");
    assertArrayEquals(named, ours(OpenOptions.builder().snapshot("1").build()));
    // Asked for by id alone, the damaged one is refused.
    assertThrows(
        CorruptImageException.class, () -> ours(OpenOptions.builder().snapshot("1", null).build()));
  }

  @Test
  void creatingAnImageToOpenAtASnapshotIsRefusedBeforeAnythingIsWritten() throws Exception {
    Path file = dir.resolve("kept.qcow2");
    Files.write(file, new byte[] {1, 2, 3});
    assertThrows(
        IllegalArgumentException.class,
        () ->
            Qcow2Image.create(
                file,
                CreateOptions.builder(1 << 20).build(),
                OpenOptions.builder().snapshot("1").build()));
    assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(file));
  }
}
