package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrowsExactly;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.luben.zstd.Zstd;
import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import java.util.zip.Deflater;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile images, one method per defect, in the manner of qemu's iotest 060: make a valid image
 * with qemu-img and qemu-io, change the few bytes the case needs at spec offsets, then open and
 * read it. Each refusal must be the exact exception with the right structure and file offset, must
 * name the image, must come within seconds, and must leave every file in the folder as it was (same
 * bytes, same modification time): the reader opens read-only.
 *
 * <p>Size claims use values whose allocation could not succeed on any test heap (an L1 of 2^31
 * entries is 16 GiB), so those tests pass only if the limit is checked before anything is
 * allocated.
 */
class HostileImageTest {
  private static final long MiB = 1 << 20;
  private static final long COPIED = 1L << 63;
  private static final long COMPRESSED = 1L << 62;

  @TempDir Path dir;

  // ---------------------------------------------------------------------------------------------
  // Header: magic, version, features, encryption

  @Test
  void notQcow2WhenQcow2IsAskedFor() throws IOException {
    Path raw = dir.resolve("disk.raw");
    TestData.writeRaw(raw, MiB, 1);
    assertRefused(
        NotQcow2Exception.class, Structure.HEADER, 0, raw, () -> Qcow2Image.open(raw).close());
    // Without a format asked for, the same file is a raw disk.
    try (DiskImage img = DiskImage.open(raw)) {
      assertInstanceOf(RawImage.class, img);
      assertEquals("raw", img.format());
      assertEquals(MiB, img.size());
    }
  }

  @Test
  void headerTruncatedInsideTheVersion3Fields() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    try (FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE)) {
      ch.truncate(50);
    }
    assertRefused(CorruptImageException.class, Structure.HEADER, 0, img, () -> readAll(img));
  }

  @Test
  void version1() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u32(img, 4, 1);
    assertRefused(UnsupportedImageException.class, Structure.HEADER, 4, img, () -> readAll(img));
  }

  @Test
  void version4() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u32(img, 4, 4);
    assertRefused(UnsupportedImageException.class, Structure.HEADER, 4, img, () -> readAll(img));
  }

  @Test
  void unknownIncompatibleFeatureBit() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u64(img, 72, Poke.readU64(img, 72) | (1L << 5));
    UnsupportedImageException e =
        assertRefused(
            UnsupportedImageException.class, Structure.HEADER, 72, img, () -> readAll(img));
    assertContains(e, "bit 5");
  }

  @Test
  void unknownIncompatibleFeatureBitNamedByTheImage() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    assertEquals(0x6803F857L, Poke.readU32(img, 0x70), "qemu writes the feature name table first");
    // Turn the table's first entry (type 0, bit 0, "dirty bit") into a name for bit 33.
    byte[] entry = new byte[48];
    entry[1] = 33;
    byte[] name = "time travel".getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(name, 0, entry, 2, name.length);
    Poke.bytes(img, 0x78, entry);
    Poke.u64(img, 72, Poke.readU64(img, 72) | (1L << 33));
    UnsupportedImageException e =
        assertRefused(
            UnsupportedImageException.class, Structure.HEADER, 72, img, () -> readAll(img));
    assertContains(e, "time travel");
    assertContains(e, "bit 33");
  }

  @Test
  void encryptedWithLegacyAes() throws IOException {
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "--object",
        "secret,id=s0,data=secret",
        "-o",
        "encrypt.format=aes,encrypt.key-secret=s0",
        "aes.qcow2",
        "1M");
    Path img = dir.resolve("aes.qcow2");
    assertEquals(1, Poke.readU32(img, 32), "crypt_method");
    Qemu.run(
        dir,
        "qemu-io",
        "--object",
        "secret,id=s0,data=secret",
        "--image-opts",
        "driver=qcow2,file.filename=aes.qcow2,encrypt.key-secret=s0",
        "-c",
        "write -P 1 0 64k");
    // Read with its passphrase only, as a LUKS image.
    UnsupportedImageException e =
        assertRefused(
            UnsupportedImageException.class,
            Structure.ENCRYPTION_HEADER,
            -1,
            img,
            () -> readAll(img));
    assertContains(e, "Parameter 'encrypt.key-secret' is required for cipher");
  }

  @Test
  void encryptedWithLuks() throws IOException {
    List<String> create =
        List.of(
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "--object",
            "secret,id=s0,data=secret",
            "-o",
            "encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10",
            "luks.qcow2",
            "1M");
    // qemu's PBKDF benchmark fails now and then when a round takes under a millisecond of CPU.
    Qemu.Result r = Qemu.exec(dir, create);
    for (int i = 0; i < 5 && r.stderr().contains("Unable to get accurate CPU usage"); i++) {
      r = Qemu.exec(dir, create);
    }
    Qemu.Result result = r;
    assertEquals(0, result.exitCode(), () -> String.join(" ", create) + "\n" + result.stderr());
    Path img = dir.resolve("luks.qcow2");
    assertEquals(2, Poke.readU32(img, 32), "crypt_method");
    Qemu.run(
        dir,
        "qemu-io",
        "--object",
        "secret,id=s0,data=secret",
        "--image-opts",
        "driver=qcow2,file.filename=luks.qcow2,encrypt.key-secret=s0",
        "-c",
        "write -P 1 0 64k");
    // Without the passphrase the header opens (info shows it) but no data cluster is read.
    UnsupportedImageException e =
        assertRefused(
            UnsupportedImageException.class,
            Structure.ENCRYPTION_HEADER,
            -1,
            img,
            () -> readAll(img));
    assertContains(e, "Parameter 'encrypt.key-secret' is required for cipher");
  }

  // ---------------------------------------------------------------------------------------------
  // Header: fields that bound memory or time

  @Test
  void clusterBitsBelowSpecMinimum() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u32(img, 20, 8);
    assertRefused(CorruptImageException.class, Structure.HEADER, 20, img, () -> readAll(img));
  }

  /**
   * The spec only requires cluster_bits >= 9; 2 MiB is qemu's (and our) implementation limit, so a
   * 4 MiB cluster is a valid image we do not support rather than a corrupt one.
   */
  @Test
  void clusterBitsAboveImplementationLimit() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u32(img, 20, 22);
    assertRefused(UnsupportedImageException.class, Structure.HEADER, 20, img, () -> readAll(img));
  }

  @Test
  void clusterBitsAllOnes() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u32(img, 20, 0xffffffffL);
    assertRefused(CorruptImageException.class, Structure.HEADER, 20, img, () -> readAll(img));
  }

  @Test
  void headerLengthShorterThanVersion3Header() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u32(img, 100, 96);
    assertRefused(CorruptImageException.class, Structure.HEADER, 100, img, () -> readAll(img));
  }

  @Test
  void headerLengthLongerThanCluster() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u32(img, 100, 0x10008);
    assertRefused(CorruptImageException.class, Structure.HEADER, 100, img, () -> readAll(img));
  }

  @Test
  void headerLengthAllOnes() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u32(img, 100, 0xffffffffL);
    assertRefused(CorruptImageException.class, Structure.HEADER, 100, img, () -> readAll(img));
  }

  @Test
  void virtualSizeWithTopBitSet() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u64(img, 24, 0x8000000000000000L);
    assertRefused(CorruptImageException.class, Structure.HEADER, 24, img, () -> readTail(img));
  }

  @Test
  void virtualSizeNeedsMoreL1EntriesThanTheLimit() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u64(img, 24, 1L << 62);
    assertRefused(ImageLimitException.class, Structure.HEADER, 24, img, () -> readTail(img));
  }

  /** size + bytes-per-L2-table - 1 overflows a signed long for sizes this close to 2^63. */
  @Test
  void virtualSizeJustBelowTopBitOverflowsL1EntryCount() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u64(img, 24, 0x7fffffffffff0000L);
    assertRefused(ImageLimitException.class, Structure.HEADER, 24, img, () -> readTail(img));
  }

  @Test
  void l1SizeHuge() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u32(img, 36, 0x7fffffffL);
    assertRefused(ImageLimitException.class, Structure.L1_TABLE, 36, img, () -> readAll(img));
  }

  @Test
  void l1SizeAllOnes() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u32(img, 36, 0xffffffffL);
    assertRefused(ImageLimitException.class, Structure.L1_TABLE, 36, img, () -> readAll(img));
  }

  @Test
  void l1SizeOverTheOpenOptionsLimit() throws IOException {
    // 64 KiB clusters map 512 MiB per L2 table: a 4 GiB disk has 8 L1 entries.
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "img.qcow2", "4G");
    Path img = dir.resolve("img.qcow2");
    assertEquals(8, Poke.readU32(img, 36), "l1_size");
    OpenOptions options = OpenOptions.builder().maxL1Entries(4).build();
    assertRefused(
        ImageLimitException.class, Structure.L1_TABLE, 36, img, () -> readAll(img, options));
  }

  @Test
  void l1SizeTooSmallForVirtualSize() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    assertEquals(1, Poke.readU32(img, 36), "l1_size");
    Poke.u64(img, 24, 1L << 30);
    assertRefused(CorruptImageException.class, Structure.L1_TABLE, 36, img, () -> readAll(img));
  }

  @Test
  void refcountTableClustersHuge() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u32(img, 56, 0xffffffffL);
    assertRefused(ImageLimitException.class, Structure.REFCOUNT_TABLE, 56, img, () -> readAll(img));
  }

  @Test
  void refcountTableWithoutClusters() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u32(img, 56, 0);
    assertRefused(
        CorruptImageException.class, Structure.REFCOUNT_TABLE, 56, img, () -> readAll(img));
  }

  @Test
  void nbSnapshotsHuge() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u32(img, 60, 0x7fffffffL);
    assertRefused(ImageLimitException.class, Structure.SNAPSHOT_TABLE, 60, img, () -> readAll(img));
  }

  @Test
  void backingFileSizeOver1023() throws IOException {
    Path img = overlay("top.qcow2", "base.qcow2");
    Poke.u32(img, 16, 1024);
    assertRefused(
        ImageLimitException.class, Structure.BACKING_FILE_NAME, 16, img, () -> readAll(img));
  }

  @Test
  void backingFileOffsetPastFirstCluster() throws IOException {
    Path img = overlay("top.qcow2", "base.qcow2");
    Poke.u64(img, 8, 0x10000);
    assertRefused(
        CorruptImageException.class, Structure.BACKING_FILE_NAME, 8, img, () -> readAll(img));
  }

  /** backing_file_offset + backing_file_size wraps to a negative long. */
  @Test
  void backingFileOffsetOverflowsWhenAddedToItsSize() throws IOException {
    Path img = overlay("top.qcow2", "base.qcow2");
    Poke.u64(img, 8, Long.MAX_VALUE);
    assertRefused(
        CorruptImageException.class, Structure.BACKING_FILE_NAME, 8, img, () -> readAll(img));
  }

  // ---------------------------------------------------------------------------------------------
  // Header extensions

  @Test
  void headerExtensionRunsPastFirstCluster() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    long ext = findExtension(img, HeaderExtension.FEATURE_NAME_TABLE);
    Poke.u32(img, ext + 4, 0x10000);
    assertRefused(
        CorruptImageException.class, Structure.HEADER_EXTENSION, ext, img, () -> readAll(img));
  }

  @Test
  void headerExtensionLengthAllOnes() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    long ext = findExtension(img, HeaderExtension.FEATURE_NAME_TABLE);
    Poke.u32(img, ext + 4, 0xffffffffL);
    assertRefused(
        CorruptImageException.class, Structure.HEADER_EXTENSION, ext, img, () -> readAll(img));
  }

  @Test
  void bitmapDirectoryPastEndOfFile() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Qemu.img(dir, "bitmap", "--add", "img.qcow2", "b0");
    long ext = findExtension(img, HeaderExtension.BITMAPS);
    // Extension data: u32 nb_bitmaps, u32 reserved, u64 directory size, u64 directory offset.
    long directoryOffsetField = ext + 8 + 16;
    Poke.u64(img, directoryOffsetField, clusterPastEnd(img));
    assertRefused(
        CorruptImageException.class,
        Structure.BITMAP_DIRECTORY,
        directoryOffsetField,
        img,
        () -> readAll(img));
  }

  @Test
  void externalDataFileNamedWithProtocol() throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "data_file=img.data", "img.qcow2", "1M");
    Path img = dir.resolve("img.qcow2");
    long ext = findExtension(img, HeaderExtension.EXTERNAL_DATA_FILE);
    assertEquals(8, Poke.readU32(img, ext + 4), "length of \"img.data\"");
    Poke.bytes(img, ext + 8, "nbd:a:99".getBytes(StandardCharsets.US_ASCII));
    UnsupportedImageException e =
        assertRefused(
            UnsupportedImageException.class,
            Structure.EXTERNAL_DATA_FILE,
            ext,
            img,
            () -> readAll(img));
    assertContains(e, "nbd:a:99");
  }

  @Test
  void externalDataFileMissing() throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "data_file=img.data", "img.qcow2", "1M");
    Path img = dir.resolve("img.qcow2");
    Files.delete(dir.resolve("img.data"));
    NoSuchFileException e = assertFails(NoSuchFileException.class, () -> readAll(img));
    assertTrue(e.getMessage().contains("img.data"), e.getMessage());
  }

  /**
   * An image-embedded data file name is as attacker-controlled as a backing file name
   * (CVE-2024-32498: a data file pointing at host files), so the allowed folders bound both.
   */
  @Test
  void externalDataFileOutsideAllowedFolder() throws IOException {
    Path inside = Files.createDirectories(dir.resolve("inside"));
    Path outside = Files.createDirectories(dir.resolve("outside"));
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "data_file=" + outside.resolve("img.data"),
        "inside/img.qcow2",
        "1M");
    Path img = inside.resolve("img.qcow2");
    long ext = findExtension(img, HeaderExtension.EXTERNAL_DATA_FILE);
    OpenOptions options = OpenOptions.builder().allowBackingIn(inside).build();
    assertRefused(
        UnsupportedImageException.class,
        Structure.EXTERNAL_DATA_FILE,
        ext,
        img,
        () -> readAll(img, options));
  }

  // ---------------------------------------------------------------------------------------------
  // Tables named by the header

  @Test
  void l1TableOffsetNotClusterAligned() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u64(img, 40, Poke.readU64(img, 40) + 512);
    assertRefused(CorruptImageException.class, Structure.L1_TABLE, 40, img, () -> readAll(img));
  }

  @Test
  void l1TableOffsetPastEndOfFile() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u64(img, 40, clusterPastEnd(img));
    assertRefused(CorruptImageException.class, Structure.L1_TABLE, 40, img, () -> readAll(img));
  }

  @Test
  void l1TableRunsPastEndOfFile() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    // 4 Mi entries are within the limit but need 32 MiB of file after the L1 offset.
    Poke.u32(img, 36, 4L << 20);
    assertRefused(CorruptImageException.class, Structure.L1_TABLE, 40, img, () -> readAll(img));
  }

  @Test
  void refcountTableOffsetNotClusterAligned() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u64(img, 48, Poke.readU64(img, 48) + 512);
    assertRefused(
        CorruptImageException.class, Structure.REFCOUNT_TABLE, 48, img, () -> readAll(img));
  }

  @Test
  void refcountTableOffsetPastEndOfFile() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Poke.u64(img, 48, clusterPastEnd(img));
    assertRefused(
        CorruptImageException.class, Structure.REFCOUNT_TABLE, 48, img, () -> readAll(img));
  }

  // ---------------------------------------------------------------------------------------------
  // L1 and L2 entries

  @Test
  void l2TableOffsetNotClusterAligned() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    long l1Entry = Poke.readU64(img, 40);
    Poke.u64(img, l1Entry, Poke.readU64(img, l1Entry) + 512);
    assertRefused(
        CorruptImageException.class, Structure.L2_TABLE, l1Entry, img, () -> readAll(img));
  }

  @Test
  void l2TableOffsetPastEndOfFile() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    long l1Entry = Poke.readU64(img, 40);
    Poke.u64(img, l1Entry, COPIED | clusterPastEnd(img));
    assertRefused(
        CorruptImageException.class, Structure.L2_TABLE, l1Entry, img, () -> readAll(img));
  }

  @Test
  void dataClusterOffsetNotClusterAligned() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    long l2Entry = l2Table(img, 0);
    long entry = Poke.readU64(img, l2Entry);
    assertNotEquals(0, entry & L1Entry.OFFSET_MASK, "guest cluster 0 is allocated");
    Poke.u64(img, l2Entry, entry + 512);
    assertRefused(
        CorruptImageException.class, Structure.L2_TABLE, l2Entry, img, () -> readAll(img));
  }

  @Test
  void dataClusterPastEndOfFile() throws IOException {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    long l2Entry = l2Table(img, 0);
    Poke.u64(img, l2Entry, COPIED | clusterPastEnd(img));
    assertRefused(
        CorruptImageException.class, Structure.L2_TABLE, l2Entry, img, () -> readAll(img));
  }

  @Test
  void extendedL2SubclusterBothAllocatedAndZero() throws IOException {
    Path img = plainImage("img.qcow2", "extended_l2=on,cluster_size=65536", 8 * MiB);
    long l2Entry = l2Table(img, 0);
    assertNotEquals(
        0, Poke.readU64(img, l2Entry) & L1Entry.OFFSET_MASK, "guest cluster 0 is allocated");
    // The bitmap word follows the descriptor: bits 0-31 allocated, bits 32-63 zero.
    Poke.u64(img, l2Entry + 8, (1L << 32) | 1);
    assertRefused(
        CorruptImageException.class, Structure.L2_TABLE, l2Entry, img, () -> readAll(img));
  }

  @Test
  void extendedL2UnallocatedClusterWithAllocatedSubclusters() throws IOException {
    Path img = plainImage("img.qcow2", "extended_l2=on,cluster_size=65536", 8 * MiB);
    // Guest cluster 40 (2.5 MiB) is never written by plainImage.
    long l2Entry = l2Table(img, 0) + 40 * 16;
    assertEquals(0, Poke.readU64(img, l2Entry), "guest cluster 40 is unallocated");
    Poke.u64(img, l2Entry + 8, 1);
    assertRefused(
        CorruptImageException.class, Structure.L2_TABLE, l2Entry, img, () -> readAll(img));
  }

  // ---------------------------------------------------------------------------------------------
  // Compressed clusters

  @Test
  void compressedClusterPastEndOfFile() throws IOException {
    Path img = compressedImage("zlib");
    Compressed c = findCompressed(img);
    long past = Files.size(img) + 4096 + 100;
    Poke.u64(img, c.l2Entry, c.withOffset(past));
    assertRefused(
        CorruptImageException.class, Structure.COMPRESSED_CLUSTER, past, img, () -> readAll(img));
  }

  @Test
  void compressedZlibClusterWithGarbage() throws IOException {
    Path img = compressedImage("zlib");
    Compressed c = findCompressed(img);
    // 0xff starts a final deflate block of the reserved type 3.
    Poke.bytes(img, c.hostOffset, filled(c.storedBytes(), (byte) 0xff));
    assertRefused(
        CorruptImageException.class,
        Structure.COMPRESSED_CLUSTER,
        c.hostOffset,
        img,
        () -> readAll(img));
  }

  @Test
  void compressedZlibStreamTruncated() throws IOException {
    Path img = compressedImage("zlib");
    Compressed c = findCompressed(img);
    Poke.u64(img, c.l2Entry, c.withSectors(1));
    assertRefused(
        CorruptImageException.class,
        Structure.COMPRESSED_CLUSTER,
        c.hostOffset,
        img,
        () -> readAll(img));
  }

  @Test
  void compressedZstdClusterWithGarbage() throws IOException {
    Path img = compressedImage("zstd");
    Compressed c = findCompressed(img);
    Poke.bytes(img, c.hostOffset, filled(c.storedBytes(), (byte) 0xa5));
    assertRefused(
        CorruptImageException.class,
        Structure.COMPRESSED_CLUSTER,
        c.hostOffset,
        img,
        () -> readAll(img));
  }

  @Test
  void compressedZstdStreamTruncated() throws IOException {
    Path img = compressedImage("zstd");
    Compressed c = findCompressed(img);
    Poke.u64(img, c.l2Entry, c.withSectors(1));
    assertRefused(
        CorruptImageException.class,
        Structure.COMPRESSED_CLUSTER,
        c.hostOffset,
        img,
        () -> readAll(img));
  }

  @Test
  void deflateStreamLongerThanOneCluster() throws IOException {
    Path img = compressedImage("zlib");
    Compressed c = findCompressed(img);
    long at = placeAtEnd(img, c, deflate(pattern(65536 + 4096)));
    assertRefused(
        CorruptImageException.class, Structure.COMPRESSED_CLUSTER, at, img, () -> readAll(img));
  }

  @Test
  void deflateStreamShorterThanOneCluster() throws IOException {
    Path img = compressedImage("zlib");
    Compressed c = findCompressed(img);
    long at = placeAtEnd(img, c, deflate(pattern(65536 - 4096)));
    assertRefused(
        CorruptImageException.class, Structure.COMPRESSED_CLUSTER, at, img, () -> readAll(img));
  }

  @Test
  void zstdFrameLongerThanOneCluster() throws IOException {
    Path img = compressedImage("zstd");
    Compressed c = findCompressed(img);
    long at = placeAtEnd(img, c, Zstd.compress(pattern(65536 + 4096)));
    assertRefused(
        CorruptImageException.class, Structure.COMPRESSED_CLUSTER, at, img, () -> readAll(img));
  }

  @Test
  void zstdFrameShorterThanOneCluster() throws IOException {
    Path img = compressedImage("zstd");
    Compressed c = findCompressed(img);
    long at = placeAtEnd(img, c, Zstd.compress(pattern(65536 - 4096)));
    assertRefused(
        CorruptImageException.class, Structure.COMPRESSED_CLUSTER, at, img, () -> readAll(img));
  }

  @Test
  void compressedExtendedL2EntryWithSubclusterBitmap() throws IOException {
    Path img = compressedImage("zstd,extended_l2=on");
    Compressed c = findCompressed(img);
    Poke.u64(img, c.l2Entry + 8, 1);
    assertRefused(
        CorruptImageException.class, Structure.L2_TABLE, c.l2Entry, img, () -> readAll(img));
  }

  // ---------------------------------------------------------------------------------------------
  // Backing files

  @Test
  void backingChainLoopsBackToItself() throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "1M");
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", "b.qcow2");
    Qemu.img(dir, "rebase", "-u", "-F", "qcow2", "-b", "b.qcow2", "a.qcow2");
    Path a = dir.resolve("a.qcow2");
    Path b = dir.resolve("b.qcow2");
    // a opens b, and b finds a already in the chain.
    CorruptImageException e =
        assertRefused(
            CorruptImageException.class,
            Structure.BACKING_CHAIN,
            Poke.readU64(b, 8),
            b,
            () -> readAll(a));
    assertContains(e, "a.qcow2");
  }

  @Test
  void backingFileIsTheImageItself() throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "self.qcow2", "1M");
    Qemu.img(dir, "rebase", "-u", "-F", "qcow2", "-b", "self.qcow2", "self.qcow2");
    Path img = dir.resolve("self.qcow2");
    assertRefused(
        CorruptImageException.class,
        Structure.BACKING_CHAIN,
        Poke.readU64(img, 8),
        img,
        () -> readAll(img));
  }

  @Test
  void backingChainDeeperThanMaxChainDepth() throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "l0.qcow2", "1M");
    for (int i = 1; i <= 3; i++) {
      Qemu.img(
          dir,
          "create",
          "-q",
          "-f",
          "qcow2",
          "-b",
          "l" + (i - 1) + ".qcow2",
          "-F",
          "qcow2",
          "l" + i + ".qcow2");
    }
    Path top = dir.resolve("l3.qcow2");
    Path l1 = dir.resolve("l1.qcow2");
    // The top is depth 0, so a limit of 2 admits l3, l2 and l1, and l1 may not open l0.
    OpenOptions two = OpenOptions.builder().maxChainDepth(2).build();
    assertRefused(
        ImageLimitException.class,
        Structure.BACKING_CHAIN,
        Poke.readU64(l1, 8),
        l1,
        () -> readAll(top, two));
    readAll(top, OpenOptions.builder().maxChainDepth(3).build());
  }

  @Test
  void backingFileNamedAsJsonPseudoFile() throws IOException {
    assertBackingNameRefused("json:{\"file.filename\":\"/etc/passwd\"}");
  }

  @Test
  void backingFileNamedWithNbdProtocol() throws IOException {
    assertBackingNameRefused("nbd:localhost:10809");
  }

  @Test
  void backingFileNamedWithHttpUrl() throws IOException {
    assertBackingNameRefused("http://x/y");
  }

  @Test
  void backingFileMissing() throws IOException {
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-u",
        "-b",
        "missing.qcow2",
        "-F",
        "qcow2",
        "top.qcow2",
        "1M");
    Path img = dir.resolve("top.qcow2");
    NoSuchFileException e = assertFails(NoSuchFileException.class, () -> readAll(img));
    assertTrue(e.getFile().endsWith("missing.qcow2"), e.getFile());
    assertTrue(e.getMessage().contains("missing.qcow2"), e.getMessage());
    assertTrue(e.getMessage().contains("top.qcow2"), e.getMessage());
  }

  @Test
  void backingFileOutsideAllowedFolder() throws IOException {
    Path inside = Files.createDirectories(dir.resolve("inside"));
    Files.createDirectories(dir.resolve("outside"));
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "outside/base.qcow2", "1M");
    Qemu.img(
        inside,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-b",
        "../outside/base.qcow2",
        "-F",
        "qcow2",
        "top.qcow2");
    Path img = inside.resolve("top.qcow2");
    OpenOptions insideOnly = OpenOptions.builder().allowBackingIn(inside).build();
    assertRefused(
        UnsupportedImageException.class,
        Structure.BACKING_FILE_NAME,
        Poke.readU64(img, 8),
        img,
        () -> readAll(img, insideOnly));
    readAll(img, OpenOptions.builder().allowBackingIn(dir).build());
  }

  @Test
  void backingFileSymlinkLeadsOutsideAllowedFolder() throws IOException {
    Path inside = Files.createDirectories(dir.resolve("inside"));
    Files.createDirectories(dir.resolve("outside"));
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "outside/base.qcow2", "1M");
    Files.createSymbolicLink(inside.resolve("base.qcow2"), Path.of("../outside/base.qcow2"));
    Qemu.img(inside, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");
    Path img = inside.resolve("top.qcow2");
    OpenOptions insideOnly = OpenOptions.builder().allowBackingIn(inside).build();
    assertRefused(
        UnsupportedImageException.class,
        Structure.BACKING_FILE_NAME,
        Poke.readU64(img, 8),
        img,
        () -> readAll(img, insideOnly));
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshot table

  @Test
  void snapshotExtraDataSizeAllOnes() throws IOException {
    Path img = imageWithSnapshot();
    long entry = Poke.readU64(img, 64);
    Poke.u32(img, entry + 36, 0xffffffffL);
    assertRefused(
        ImageLimitException.class, Structure.SNAPSHOT_TABLE, entry + 36, img, () -> readAll(img));
  }

  @Test
  void snapshotEntryRunsPastEndOfFile() throws IOException {
    Path img = imageWithSnapshot();
    long entry = Poke.readU64(img, 64);
    // Longest id and name: 128 KiB of strings after the fixed 40 bytes.
    assertTrue(
        entry + 40 + 2 * 0xffff > Files.size(img),
        "the snapshot table lies near the end of the file");
    Poke.u16(img, entry + 12, 0xffff);
    Poke.u16(img, entry + 14, 0xffff);
    assertRefused(
        CorruptImageException.class, Structure.SNAPSHOT_TABLE, entry, img, () -> readAll(img));
  }

  // ---------------------------------------------------------------------------------------------
  // Assertions

  /**
   * Runs {@code action} against an image in {@link #dir} and checks the refusal: the exact type,
   * structure and file offset, a message and {@code image()} naming {@code image}, within ten
   * seconds, with every file in the folder left unchanged.
   */
  private <T extends Qcow2Exception> T assertRefused(
      Class<T> type, Structure structure, long offset, Path image, Executable action)
      throws IOException {
    T e = assertFails(type, action);
    String name = image.getFileName().toString();
    assertEquals(structure, e.structure(), () -> "structure of: " + e.getMessage());
    assertEquals(
        offset,
        e.offset(),
        () -> "offset 0x" + Long.toHexString(offset) + " expected: " + e.getMessage());
    assertTrue(e.image().endsWith(name), () -> "image() " + e.image() + " should name " + name);
    assertContains(e, name);
    return e;
  }

  /** The exact exception, within ten seconds, leaving every file in the folder as it was. */
  private <T extends Throwable> T assertFails(Class<T> type, Executable action) throws IOException {
    Map<Path, String> before = fingerprints(true);
    T e =
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> assertThrowsExactly(type, action));
    assertEquals(before, fingerprints(false), "files changed by a read-only open");
    return e;
  }

  private static void assertContains(Exception e, String text) {
    assertTrue(
        e.getMessage().contains(text),
        () -> "message should contain \"" + text + "\": " + e.getMessage());
  }

  private static final FileTime PAST = FileTime.fromMillis(1_000_000_000_000L);

  /**
   * SHA-256 and modification time of every file in the folder. With {@code resetTimes} each time is
   * first set to a fixed past instant, so that any later write shows as a changed time.
   */
  private Map<Path, String> fingerprints(boolean resetTimes) throws IOException {
    Map<Path, String> map = new TreeMap<>();
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path p : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
        if (resetTimes) {
          Files.setLastModifiedTime(p, PAST);
        }
        map.put(p, sha256(p) + " " + Files.getLastModifiedTime(p));
      }
    }
    return map;
  }

  private static String sha256(Path p) throws IOException {
    try {
      return HexFormat.of()
          .formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private void assertBackingNameRefused(String name) throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-u", "-b", name, "-F", "raw", "top.qcow2", "1M");
    Path img = dir.resolve("top.qcow2");
    UnsupportedImageException e =
        assertRefused(
            UnsupportedImageException.class,
            Structure.BACKING_FILE_NAME,
            Poke.readU64(img, 8),
            img,
            () -> readAll(img));
    assertContains(e, name);
  }

  // ---------------------------------------------------------------------------------------------
  // Reading

  static void readAll(Path image) throws IOException {
    readAll(image, OpenOptions.defaults());
  }

  static void readAll(Path image, OpenOptions options) throws IOException {
    try (DiskImage img = DiskImage.open(image, options)) {
      ByteBuffer buf = ByteBuffer.allocate(1 << 20);
      for (long at = 0; at < img.size(); at += buf.capacity()) {
        buf.clear();
        img.read(buf, at);
      }
    }
  }

  /** For absurd virtual sizes: reading the whole disk would never end, so read its last sector. */
  private static void readTail(Path image) throws IOException {
    try (DiskImage img = DiskImage.open(image)) {
      img.read(ByteBuffer.allocate(512), img.size() - 512);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Making and inspecting images

  /**
   * An image with data, zeros and holes in its first L2 table (see ReadCompatibilityTest.plain).
   */
  private Path plainImage(String name, String options, long size) {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", options, name, Long.toString(size));
    Qemu.io(
        dir, name, "write -P 0x11 0 5000", "write -P 0x22 70000 100000", "write -z 1114112 65536");
    return dir.resolve(name);
  }

  private Path overlay(String name, String base) {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", base, "1M");
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", name);
    return dir.resolve(name);
  }

  private Path compressedImage(String compressionType) throws IOException {
    TestData.writeRaw(dir.resolve("src.raw"), 2 * MiB, 42);
    Qemu.img(
        dir,
        "convert",
        "-c",
        "-O",
        "qcow2",
        "-o",
        "cluster_size=65536,compression_type=" + compressionType,
        "src.raw",
        "img.qcow2");
    Files.delete(dir.resolve("src.raw"));
    return dir.resolve("img.qcow2");
  }

  private Path imageWithSnapshot() {
    Path img = plainImage("img.qcow2", "cluster_size=65536", 8 * MiB);
    Qemu.img(dir, "snapshot", "-c", "s1", "img.qcow2");
    return img;
  }

  /** The file offset of the first entry of the L2 table that L1 entry {@code l1Index} names. */
  private static long l2Table(Path img, int l1Index) throws IOException {
    long l1 = Poke.readU64(img, 40);
    long l2 = Poke.readU64(img, l1 + 8L * l1Index) & L1Entry.OFFSET_MASK;
    assertNotEquals(0, l2, "L1 entry " + l1Index + " has an L2 table");
    return l2;
  }

  /** A cluster-aligned offset one cluster past the end of the file. */
  private static long clusterPastEnd(Path img) throws IOException {
    long cluster = 1L << Poke.readU32(img, 20);
    return ((Files.size(img) + cluster - 1) & -cluster) + cluster;
  }

  /** The host offset of the header extension of {@code type}; fails if the image has none. */
  private static long findExtension(Path img, int type) throws IOException {
    long at = Poke.readU32(img, 4) == 3 ? Poke.readU32(img, 100) : 72;
    while (true) {
      long t = Poke.readU32(img, at);
      assertNotEquals(0, t, "the image has no header extension 0x" + Integer.toHexString(type));
      if (t == Integer.toUnsignedLong(type)) {
        return at;
      }
      at += 8 + ((Poke.readU32(img, at + 4) + 7) & ~7L);
    }
  }

  /**
   * A compressed L2 entry (spec A.5): x = 62 - (cluster_bits - 8); bits 0..x-1 are the host byte
   * offset, bits x..61 the number of 512-byte sectors after the first.
   */
  private record Compressed(
      long l2Entry, long descriptor, int clusterBits, long hostOffset, long sectors) {
    int shift() {
      return 62 - (clusterBits - 8);
    }

    int storedBytes() {
      return (int) (sectors * 512 - (hostOffset & 511));
    }

    long withOffset(long offset) {
      return descriptor & ~((1L << shift()) - 1) | offset;
    }

    long withSectors(long count) {
      return COMPRESSED | ((count - 1) << shift()) | hostOffset;
    }
  }

  /** The first compressed entry of the first L2 table whose data spans at least two sectors. */
  private static Compressed findCompressed(Path img) throws IOException {
    int clusterBits = (int) Poke.readU32(img, 20);
    boolean extended = (Poke.readU64(img, 72) & (1L << 4)) != 0;
    int entryBytes = extended ? 16 : 8;
    long l2 = l2Table(img, 0);
    ByteBuffer table = ByteBuffer.allocate(1 << clusterBits);
    try (FileChannel ch = FileChannel.open(img)) {
      ch.read(table, l2);
    }
    int shift = 62 - (clusterBits - 8);
    for (int i = 0; i < table.capacity(); i += entryBytes) {
      long e = table.getLong(i);
      long sectors = ((e >>> shift) & ((1L << (clusterBits - 8)) - 1)) + 1;
      if ((e & COMPRESSED) != 0 && sectors >= 2) {
        return new Compressed(l2 + i, e, clusterBits, e & ((1L << shift) - 1), sectors);
      }
    }
    throw new AssertionError(
        "qemu-img convert -c wrote no compressed cluster of two sectors or more");
  }

  /** Writes {@code data} past the end of the file and points {@code c}'s entry at it. */
  private static long placeAtEnd(Path img, Compressed c, byte[] data) throws IOException {
    long at = Files.size(img) + 100;
    long sectors = ((at & 511) + data.length + 511) / 512;
    assertTrue(sectors <= 1L << (c.clusterBits - 8), "the crafted stream fits in a descriptor");
    Poke.bytes(img, at, data);
    Poke.u64(img, c.l2Entry, COMPRESSED | ((sectors - 1) << c.shift()) | at);
    return at;
  }

  /** Raw deflate, as qemu's "zlib" compression type stores it. */
  private static byte[] deflate(byte[] data) {
    Deflater d = new Deflater(6, true);
    try {
      d.setInput(data);
      d.finish();
      byte[] out = new byte[data.length + 1024];
      int n = d.deflate(out);
      assertTrue(d.finished(), "deflate finished in one call");
      return Arrays.copyOf(out, n);
    } finally {
      d.end();
    }
  }

  private static byte[] pattern(int length) {
    byte[] b = new byte[length];
    for (int i = 0; i < length; i++) {
      b[i] = (byte) (i * 7 + (i >>> 9));
    }
    return b;
  }

  private static byte[] filled(int length, byte value) {
    byte[] b = new byte[length];
    Arrays.fill(b, value);
    return b;
  }
}
