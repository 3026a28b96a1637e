package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertThrowsExactly;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The hostile-image guarantees that {@link HostileImageTest} and {@link WriterBadInputTest} leave
 * open: size claims in the structures that only check and repair read (a snapshot's L1 table, a
 * bitmap's table) cost memory and time bounded by the file; a repair never stores a refcount that
 * wraps around; a corrupt image opened writable is refused before anything is written, even when
 * its dirty bit asks for a refcount rebuild; every protocol-like backing or data file name is
 * refused; names that are no path at all are typed errors; a backing file marked raw is read as raw
 * bytes, never probed.
 */
class HostileGuaranteesTest {
  private static final long MiB = 1 << 20;

  @TempDir Path dir;

  // ---------------------------------------------------------------------------------------------
  // Memory and time bounded by the file, in check

  @Test
  void snapshotClaimingA2To31EntryL1IsCheckedInBoundedMemory() throws IOException {
    Path img = imageWithSnapshot("cluster_size=65536");
    long entry = Poke.readU64(img, 64);
    Poke.u32(img, entry + 8, 0x7fffffffL);
    CheckReport report = boundedCheck(img);
    assertTrue(
        report.corruptions() > 0, "the bad snapshot L1 table is reported: " + report.messages());
  }

  @Test
  void snapshotL1SizeWithTheTopBitSetIsAProblemNotACrash() throws IOException {
    Path img = imageWithSnapshot("cluster_size=65536");
    long entry = Poke.readU64(img, 64);
    // As a signed int this is negative: no table may be sized from it.
    Poke.u32(img, entry + 8, 0x80000000L);
    CheckReport report = boundedCheck(img);
    assertTrue(
        report.corruptions() > 0, "the bad snapshot L1 table is reported: " + report.messages());
  }

  @Test
  void bitmapTableClaimingA2To31EntriesIsCheckedInBoundedMemory() throws IOException {
    Path img = imageWithBitmap("cluster_size=65536");
    long directory = bitmapDirectoryOffset(img);
    Poke.u32(img, directory + 8, 0x7fffffffL);
    // Refused before anything is read, as qemu-img check refuses to open it ("Bitmap 'b1'
    // doesn't satisfy the constraints").
    CorruptImageException e =
        assertThrows(
            CorruptImageException.class,
            () -> assertTimeoutPreemptively(Duration.ofSeconds(20), () -> boundedCheck(img)));
    assertEquals(Structure.BITMAP_DIRECTORY, e.structure(), e.getMessage());
  }

  @Test
  void repairNeverStoresAWrappedRefcountThatMakesAClusterInUseFree() throws IOException {
    // With refcount_bits=1 a cluster can be counted once; two L2 entries naming one data cluster
    // need 2, which qemu cannot repair either. Stored as 2 & 1 = 0 the cluster would look free
    // and the next allocation would overwrite it.
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "cluster_size=512,refcount_bits=1",
        "img.qcow2",
        "1M");
    Qemu.io(dir, "img.qcow2", "write -P 0x11 0 512", "write -P 0x22 512 512");
    Path img = dir.resolve("img.qcow2");
    long l2 = Poke.readU64(img, Poke.readU64(img, 40)) & 0x00fffffffffffe00L;
    Poke.u64(img, l2 + 8, Poke.readU64(img, l2));
    CheckReport repaired = ImageChecker.check(img, ImageChecker.Repair.ALL);
    assertTrue(
        repaired.messages().stream().anyMatch(m -> m.endsWith("refcount=1 reference=2")),
        repaired.messages().toString());
    assertTrue(
        repaired.messages().stream().noneMatch(m -> m.contains("refcount=0")),
        repaired.messages().toString());
    try (Qcow2Image image = Qcow2Image.open(img, OpenOptions.builder().writable(true).build())) {
      image.write(ByteBuffer.wrap(new byte[64 << 10]).put(0, (byte) 0x77), 512 << 10);
    }
    try (Qcow2Image image = Qcow2Image.open(img)) {
      ByteBuffer b = ByteBuffer.allocate(1024);
      image.readFully(b, 0);
      for (int i = 0; i < 1024; i++) {
        assertEquals(0x11, b.get(i), "byte " + i + " of the shared cluster was overwritten");
      }
    }
  }

  @Test
  void repairDropsASnapshotWhoseL1TableLiesOutsideTheFileAsQemuDoes() throws IOException {
    Path img = imageWithSnapshot("cluster_size=65536");
    Qemu.img(dir, "snapshot", "-c", "s2", "img.qcow2");
    long entry = Poke.readU64(img, 64);
    Poke.u64(img, entry, Files.size(img) + (1L << 30));
    CheckReport repaired = ImageChecker.check(img, ImageChecker.Repair.ALL);
    assertTrue(repaired.isClean(), repaired.messages().toString());
    assertEquals(1, Poke.readU32(img, 60), "nb_snapshots");
    try (Qcow2Image image = Qcow2Image.open(img)) {
      assertEquals(List.of("s2"), image.snapshots().stream().map(Snapshot::name).toList());
    }
    assertEquals(
        0,
        Qemu.exec(dir, List.of("qemu-img", "check", "img.qcow2")).exitCode(),
        "qemu-img check agrees");
  }

  // ---------------------------------------------------------------------------------------------
  // Corrupt images opened writable: refused, nothing written

  @Test
  void dirtyImageWithL2PastTheEndIsRefusedWritableBeforeTheRefcountRebuild() throws IOException {
    Path img = plainImage("cluster_size=65536,lazy_refcounts=on");
    long l1 = Poke.readU64(img, 40);
    Poke.u64(img, l1, (1L << 63) | (Files.size(img) + (64L << 20)));
    Poke.u64(img, 72, Poke.readU64(img, 72) | FeatureBits.INCOMPAT_DIRTY);
    assertRefusedWritableUnchanged(img, Structure.L2_TABLE);
  }

  @Test
  void dirtyImageWithBrokenSnapshotTableIsRefusedWritableUnchanged() throws IOException {
    Path img = imageWithSnapshot("cluster_size=65536,lazy_refcounts=on");
    long entry = Poke.readU64(img, 64);
    Poke.u32(img, entry + 36, 0xffffffffL);
    Poke.u64(img, 72, Poke.readU64(img, 72) | FeatureBits.INCOMPAT_DIRTY);
    assertRefusedWritableUnchanged(img, Structure.SNAPSHOT_TABLE);
  }

  @Test
  void dirtyImageWithMalformedBitmapDirectoryIsRefusedWritableUnchanged() throws IOException {
    Path img = imageWithBitmap("cluster_size=65536,lazy_refcounts=on");
    long directory = bitmapDirectoryOffset(img);
    // The first entry's name runs past the directory.
    Poke.u16(img, directory + 18, 0xffff);
    Poke.u64(img, 72, Poke.readU64(img, 72) | FeatureBits.INCOMPAT_DIRTY);
    assertRefusedWritableUnchanged(img, Structure.BITMAP_DIRECTORY);
  }

  @Test
  void dirtyImageRequiringAnUnnamedDataFileIsRefusedWritableUnchanged() throws IOException {
    // A fuzz finding: the refcount rebuild grew the file before the open refused the image.
    Path img = plainImage("cluster_size=65536,lazy_refcounts=on");
    Poke.u64(
        img,
        72,
        Poke.readU64(img, 72) | FeatureBits.INCOMPAT_DIRTY | FeatureBits.INCOMPAT_DATA_FILE);
    assertRefusedWritableUnchanged(img, Structure.EXTERNAL_DATA_FILE);
  }

  // ---------------------------------------------------------------------------------------------
  // Backing and data file names

  @ParameterizedTest
  @ValueSource(
      strings = {
        "nbd://localhost:10809/export",
        "nbd+unix:///export?socket=/tmp/nbd.sock",
        "https://example.com/disk.qcow2",
        "ftp://example.com/disk.qcow2",
        "ssh://host/disk.qcow2",
        "file:/etc/passwd",
        "null-co://",
        "gluster://host/volume/disk",
        "iscsi://host/iqn.2001-04.com.example:storage/0",
        "json:{\"driver\":\"raw\"}"
      })
  void protocolBackingFileNamesAreRefusedWithoutOpeningAnything(String name) throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-u", "-b", name, "-F", "raw", "top.qcow2", "1M");
    Path img = dir.resolve("top.qcow2");
    byte[] before = Files.readAllBytes(img);
    UnsupportedImageException e =
        assertThrowsExactly(UnsupportedImageException.class, () -> readAll(img));
    assertEquals(Structure.BACKING_FILE_NAME, e.structure(), e.getMessage());
    assertEquals(Poke.readU64(img, 8), e.offset(), e.getMessage());
    assertTrue(e.getMessage().contains(name), e.getMessage());
    assertArrayEquals(before, Files.readAllBytes(img));
  }

  @Test
  void protocolDataFileNameIsRefusedEvenWithoutBackingFiles() throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "data_file=data.raw", "img.qcow2", "1M");
    Path img = dir.resolve("img.qcow2");
    HeaderExtension ext = header(img).extension(HeaderExtension.EXTERNAL_DATA_FILE);
    byte[] name = "nbd:loca".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    assertEquals(name.length, ext.data().length, "the new name has the old name's length");
    Poke.bytes(img, ext.hostOffset() + 8, name);
    OpenOptions noBacking = OpenOptions.builder().openBacking(false).build();
    UnsupportedImageException e =
        assertThrowsExactly(UnsupportedImageException.class, () -> readAll(img, noBacking));
    assertEquals(Structure.EXTERNAL_DATA_FILE, e.structure(), e.getMessage());
  }

  @Test
  void backingFileNameWithANulByteIsATypedError() throws IOException {
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-u",
        "-b",
        "base.qcow2",
        "-F",
        "qcow2",
        "top.qcow2",
        "1M");
    Path img = dir.resolve("top.qcow2");
    long nameOffset = Poke.readU64(img, 8);
    Poke.u8(img, nameOffset + 4, 0);
    // Even an image opened without its backing chain names it in info().
    for (OpenOptions options :
        new OpenOptions[] {
          OpenOptions.defaults(), OpenOptions.builder().openBacking(false).build()
        }) {
      CorruptImageException e =
          assertThrowsExactly(
              CorruptImageException.class,
              () -> {
                try (Qcow2Image image = Qcow2Image.open(img, options)) {
                  image.info();
                }
              });
      assertEquals(Structure.BACKING_FILE_NAME, e.structure(), e.getMessage());
      assertEquals(nameOffset, e.offset(), e.getMessage());
    }
  }

  @Test
  void dataFileNameWithANulByteIsATypedError() throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "data_file=data.raw", "img.qcow2", "1M");
    Path img = dir.resolve("img.qcow2");
    HeaderExtension ext = header(img).extension(HeaderExtension.EXTERNAL_DATA_FILE);
    Poke.u8(img, ext.hostOffset() + 8 + 2, 0);
    CorruptImageException e =
        assertThrowsExactly(
            CorruptImageException.class,
            () -> readAll(img, OpenOptions.builder().openBacking(false).build()));
    assertEquals(Structure.EXTERNAL_DATA_FILE, e.structure(), e.getMessage());
    assertEquals(ext.hostOffset(), e.offset(), e.getMessage());
  }

  @Test
  void backingLoopThroughASymbolicLinkIsRefused() throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "1M");
    Files.createSymbolicLink(dir.resolve("link.qcow2"), Path.of("a.qcow2"));
    Qemu.img(dir, "rebase", "-u", "-F", "qcow2", "-b", "link.qcow2", "a.qcow2");
    Path a = dir.resolve("a.qcow2");
    CorruptImageException e =
        assertTimeoutPreemptively(
            Duration.ofSeconds(10),
            () -> assertThrowsExactly(CorruptImageException.class, () -> readAll(a)));
    assertEquals(Structure.BACKING_CHAIN, e.structure(), e.getMessage());
  }

  @Test
  void rawBackingFileHoldingAQcow2ImageIsReadAsRawBytes() throws IOException {
    // The "raw" backing file is itself a qcow2 image whose backing file is a secret; probing it
    // would expose the secret through the overlay.
    Files.writeString(dir.resolve("secret.txt"), "secret".repeat(100));
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-u",
        "-b",
        "secret.txt",
        "-F",
        "raw",
        "inner.qcow2",
        "1M");
    Qemu.img(
        dir, "create", "-q", "-f", "qcow2", "-b", "inner.qcow2", "-F", "raw", "top.qcow2", "1M");
    Path top = dir.resolve("top.qcow2");
    byte[] inner = Files.readAllBytes(dir.resolve("inner.qcow2"));
    try (Qcow2Image image = Qcow2Image.open(top)) {
      assertEquals("raw", image.backing().format());
      assertTrue(
          image.backing().size() >= inner.length, "the raw size is the file's, in whole sectors");
      ByteBuffer b = ByteBuffer.allocate(inner.length);
      image.readFully(b, 0);
      assertArrayEquals(inner, b.array(), "the overlay shows the raw bytes of the qcow2 file");
    }
  }

  @Test
  void backingFileWithoutFormatIsOnlyEverQcow2OrRaw() throws IOException {
    // No backing format extension: a file that is not qcow2 is raw, whatever it looks like.
    Qemu.img(dir, "create", "-q", "-f", "vmdk", "base.vmdk", "1M");
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "top.qcow2", "1M");
    Path top = dir.resolve("top.qcow2");
    // qemu-img no longer writes a backing file name without its format; old images have them.
    Qcow2Image.setBackingFile(top, "base.vmdk", null);
    byte[] base = Files.readAllBytes(dir.resolve("base.vmdk"));
    try (Qcow2Image image = Qcow2Image.open(top)) {
      assertEquals("raw", image.backing().format());
      ByteBuffer b = ByteBuffer.allocate((int) Math.min(base.length, 4096));
      image.readFully(b, 0);
      assertArrayEquals(Arrays.copyOf(base, b.capacity()), b.array());
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  private CheckReport boundedCheck(Path img) {
    return assertTimeoutPreemptively(
        Duration.ofSeconds(20), () -> ImageChecker.check(img, ImageChecker.Repair.NONE));
  }

  private void assertRefusedWritableUnchanged(Path img, Structure structure) throws IOException {
    byte[] before = Files.readAllBytes(img);
    Qcow2Exception e =
        assertThrows(
            Qcow2Exception.class,
            () -> Qcow2Image.open(img, OpenOptions.builder().writable(true).build()).close());
    assertEquals(structure, e.structure(), e.getMessage());
    assertArrayEquals(before, Files.readAllBytes(img), "a refused writable open changed the image");
    // Nothing stays locked or registered: a second writable open is refused for the same reason.
    Qcow2Exception again =
        assertThrows(
            Qcow2Exception.class,
            () -> Qcow2Image.open(img, OpenOptions.builder().writable(true).build()).close());
    assertEquals(e.getMessage(), again.getMessage());
  }

  private Path plainImage(String options) {
    Qemu.img(
        dir, "create", "-q", "-f", "qcow2", "-o", options, "img.qcow2", Long.toString(8 * MiB));
    Qemu.io(dir, "img.qcow2", "write -P 0x11 0 5000", "write -P 0x22 700000 100000");
    return dir.resolve("img.qcow2");
  }

  private Path imageWithSnapshot(String options) {
    Path img = plainImage(options);
    Qemu.img(dir, "snapshot", "-c", "s1", "img.qcow2");
    return img;
  }

  private Path imageWithBitmap(String options) {
    Path img = plainImage(options);
    Qemu.img(dir, "bitmap", "--add", "img.qcow2", "b1");
    return img;
  }

  private static Header header(Path img) throws IOException {
    byte[] file = Files.readAllBytes(img);
    return Header.parse(
        img.toString(),
        ByteBuffer.wrap(file, 0, Math.min(file.length, 65536)).slice(),
        file.length,
        OpenOptions.defaults());
  }

  private static long bitmapDirectoryOffset(Path img) throws IOException {
    HeaderExtension ext = header(img).extension(HeaderExtension.BITMAPS);
    return ByteBuffer.wrap(ext.data()).getLong(16);
  }

  private static void readAll(Path image) throws IOException {
    HostileImageTest.readAll(image);
  }

  private static void readAll(Path image, OpenOptions options) throws IOException {
    HostileImageTest.readAll(image, options);
  }
}
