package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrowsExactly;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Writes the writer must refuse, and images it must refuse to write, each leaving the file's bytes
 * as they were (SHA-256 before and after); and images with internal snapshots or persistent
 * bitmaps, which it may write but must leave consistent for qemu.
 */
class WriterBadInputTest {
  private static final long SIZE = 1L << 20;

  @TempDir Path dir;

  private Path qemuImage(String name, String options) {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", options, name, Long.toString(SIZE));
    Qemu.io(dir, name, "write -P 7 0 200k", "write -P 8 600k 64k");
    return dir.resolve(name);
  }

  private static OpenOptions writable() {
    return OpenOptions.builder().writable(true).build();
  }

  /**
   * Runs {@code body} on the image opened writable, and asserts that the file is unchanged
   * afterwards.
   */
  private void unchangedAfter(Path image, OpenOptions options, ImageAction body)
      throws IOException {
    String before = ConcurrencyTest.sha256(image);
    try (Qcow2Image img = Qcow2Image.open(image, options)) {
      body.run(img);
    }
    assertEquals(before, ConcurrencyTest.sha256(image), "the image file changed");
  }

  interface ImageAction {
    void run(Qcow2Image img) throws IOException;
  }

  private static void refused(Class<? extends Throwable> type, String text, Executable call) {
    Throwable e = assertThrowsExactly(type, call);
    assertTrue(
        e.getMessage() != null && e.getMessage().contains(text),
        () -> "message should contain '" + text + "': " + e.getMessage());
  }

  // ---------------------------------------------------------------------------------------------
  // Bad ranges

  @Test
  void writePastTheEnd() throws IOException {
    Path image = qemuImage("past.qcow2", "cluster_size=65536");
    unchangedAfter(
        image,
        writable(),
        img -> {
          refused(
              IllegalArgumentException.class,
              "outside the disk",
              () -> img.write(ByteBuffer.allocate(512), SIZE - 100));
          refused(
              IllegalArgumentException.class,
              "outside the disk",
              () -> img.write(ByteBuffer.allocate(1), SIZE));
          refused(
              IllegalArgumentException.class,
              "outside the disk",
              () -> img.writeZeroes(SIZE - 512, 1024));
          refused(
              IllegalArgumentException.class, "outside the disk", () -> img.discard(SIZE, 65536));
          refused(
              IllegalArgumentException.class,
              "outside the disk",
              () -> img.writeCompressed(ByteBuffer.allocate(65536), SIZE));
          // The last byte itself is inside the disk.
          assertEquals(0, read(img, SIZE - 1, 1)[0]);
        });
  }

  @Test
  void negativeOffsetsAndLengths() throws IOException {
    Path image = qemuImage("negative.qcow2", "cluster_size=65536");
    unchangedAfter(
        image,
        writable(),
        img -> {
          refused(
              IllegalArgumentException.class,
              "outside the disk",
              () -> img.write(ByteBuffer.allocate(512), -1));
          refused(
              IllegalArgumentException.class,
              "outside the disk",
              () -> img.write(ByteBuffer.allocate(512), Long.MIN_VALUE));
          refused(
              IllegalArgumentException.class, "outside the disk", () -> img.writeZeroes(-512, 512));
          refused(IllegalArgumentException.class, "outside the disk", () -> img.writeZeroes(0, -1));
          refused(
              IllegalArgumentException.class,
              "outside the disk",
              () -> img.discard(-65536, 131072));
          refused(
              IllegalArgumentException.class, "outside the disk", () -> img.discard(65536, -65536));
          refused(
              IllegalArgumentException.class,
              "outside the disk",
              () -> img.writeCompressed(ByteBuffer.allocate(65536), -65536));
        });
  }

  @Test
  void lengthOverflowNearLongMax() throws IOException {
    Path image = qemuImage("overflow.qcow2", "cluster_size=65536");
    unchangedAfter(
        image,
        writable(),
        img -> {
          refused(
              IllegalArgumentException.class,
              "outside the disk",
              () -> img.write(ByteBuffer.allocate(512), Long.MAX_VALUE - 10));
          refused(
              IllegalArgumentException.class,
              "outside the disk",
              () -> img.write(ByteBuffer.allocate(512), Long.MAX_VALUE));
          refused(
              IllegalArgumentException.class,
              "outside the disk",
              () -> img.writeZeroes(Long.MAX_VALUE - 511, 512));
          refused(
              IllegalArgumentException.class,
              "outside the disk",
              () -> img.writeZeroes(512, Long.MAX_VALUE));
          refused(
              IllegalArgumentException.class,
              "outside the disk",
              () -> img.writeZeroes(Long.MAX_VALUE, Long.MAX_VALUE));
          refused(
              IllegalArgumentException.class,
              "outside the disk",
              () -> img.discard(65536, Long.MAX_VALUE - 1));
          refused(
              IllegalArgumentException.class,
              "outside the disk",
              () -> img.discard(Long.MAX_VALUE - 65535, 65536));
          refused(
              IllegalArgumentException.class,
              "outside the disk",
              () -> img.writeCompressed(ByteBuffer.allocate(65536), Long.MAX_VALUE & ~65535L));
        });
  }

  @Test
  void compressedWriteUnalignedOrNotOneCluster() throws IOException {
    Path image = qemuImage("compressed.qcow2", "cluster_size=65536");
    unchangedAfter(
        image,
        writable(),
        img -> {
          refused(
              IllegalArgumentException.class,
              "cluster boundary",
              () -> img.writeCompressed(ByteBuffer.allocate(65536), 512));
          refused(
              IllegalArgumentException.class,
              "cluster boundary",
              () -> img.writeCompressed(ByteBuffer.allocate(65536), 65535));
          refused(
              IllegalArgumentException.class,
              "whole cluster",
              () -> img.writeCompressed(ByteBuffer.allocate(4096), 0));
          refused(
              IllegalArgumentException.class,
              "whole cluster",
              () -> img.writeCompressed(ByteBuffer.allocate(131072), 65536));
          refused(
              IllegalArgumentException.class,
              "whole cluster",
              () -> img.writeCompressed(ByteBuffer.allocate(0), 65536));
          // Shorter than a cluster is allowed only for a last cluster that is itself shorter; this
          // disk's last cluster is whole.
          refused(
              IllegalArgumentException.class,
              "whole cluster",
              () -> img.writeCompressed(ByteBuffer.allocate(512), SIZE - 65536));
        });
  }

  // ---------------------------------------------------------------------------------------------
  // Wrong state

  @Test
  void writesOnAReadOnlyImage() throws IOException {
    Path image = qemuImage("readonly.qcow2", "cluster_size=65536");
    unchangedAfter(
        image,
        OpenOptions.defaults(),
        img -> {
          assertFalse(img.isWritable());
          refused(
              IllegalStateException.class,
              "read-only",
              () -> img.write(ByteBuffer.allocate(512), 0));
          refused(IllegalStateException.class, "read-only", () -> img.writeZeroes(0, 65536));
          refused(IllegalStateException.class, "read-only", () -> img.discard(0, 65536));
          refused(
              IllegalStateException.class,
              "read-only",
              () -> img.writeCompressed(ByteBuffer.allocate(65536), 0));
          refused(IllegalStateException.class, "read-only", img::flush);
          assertEquals(7, read(img, 0, 1)[0], "still readable");
        });
  }

  @Test
  void writesAfterClose() throws IOException {
    Path image = qemuImage("closed.qcow2", "cluster_size=65536");
    String before = ConcurrencyTest.sha256(image);
    Qcow2Image img = Qcow2Image.open(image, writable());
    img.close();
    refused(IllegalStateException.class, "closed", () -> img.write(ByteBuffer.allocate(512), 0));
    refused(IllegalStateException.class, "closed", () -> img.writeZeroes(0, 65536));
    refused(IllegalStateException.class, "closed", () -> img.discard(0, 65536));
    refused(
        IllegalStateException.class,
        "closed",
        () -> img.writeCompressed(ByteBuffer.allocate(65536), 0));
    refused(IllegalStateException.class, "closed", img::flush);
    refused(IllegalStateException.class, "closed", () -> img.read(ByteBuffer.allocate(512), 0));
    img.close(); // a second close is harmless
    assertEquals(before, ConcurrencyTest.sha256(image), "the image file changed");
  }

  // ---------------------------------------------------------------------------------------------
  // Images we must not write

  private void refusedOpen(
      Path image, Class<? extends Throwable> type, Structure structure, long offset, Path... others)
      throws IOException {
    String before = ConcurrencyTest.sha256(image);
    String[] othersBefore = new String[others.length];
    for (int i = 0; i < others.length; i++) {
      othersBefore[i] = ConcurrencyTest.sha256(others[i]);
    }
    Throwable e = assertThrowsExactly(type, () -> Qcow2Image.open(image, writable()).close());
    if (e instanceof Qcow2Exception q) {
      assertEquals(structure, q.structure(), e.getMessage());
      assertEquals(offset, q.offset(), e.getMessage());
      assertTrue(e.getMessage().contains(image.toString()), "names the image: " + e.getMessage());
    }
    assertEquals(
        before, ConcurrencyTest.sha256(image), "a refused writable open changed the image");
    for (int i = 0; i < others.length; i++) {
      assertEquals(
          othersBefore[i],
          ConcurrencyTest.sha256(others[i]),
          "a refused writable open changed " + others[i]);
    }
    // The refusal leaves no file open and no lock behind: qemu can still open the image.
    Qemu.img(dir, "info", image.getFileName().toString());
  }

  @Test
  void corruptBitRefusesWriting() throws IOException {
    Path image = qemuImage("corrupt.qcow2", "cluster_size=65536");
    Poke.u64(image, 72, Poke.readU64(image, 72) | FeatureBits.INCOMPAT_CORRUPT);
    refusedOpen(image, CorruptImageException.class, Structure.HEADER, 72);
  }

  @Test
  void corruptAndDirtyBitsRefuseWritingWithoutRepair() throws IOException {
    Path image = qemuImage("corrupt-dirty.qcow2", "cluster_size=65536,lazy_refcounts=on");
    Poke.u64(
        image,
        72,
        Poke.readU64(image, 72) | FeatureBits.INCOMPAT_CORRUPT | FeatureBits.INCOMPAT_DIRTY);
    refusedOpen(image, CorruptImageException.class, Structure.HEADER, 72);
  }

  /**
   * The brief asked for a refusal here (UnsupportedImageException); the library instead repairs a
   * dirty image on a writable open, as qemu does (see {@link LazyRefcountsTest}). This test holds
   * the library to that: the repair leaves a clean image with the same content.
   */
  @Test
  void dirtyBitIsRepairedOnWritableOpen() throws IOException {
    Path image = qemuImage("dirty.qcow2", "cluster_size=65536,lazy_refcounts=on");
    byte[] content = Files.readAllBytes(Qemu.toRaw(dir, "dirty.qcow2", "dirty.before.raw"));
    Poke.u64(image, 72, Poke.readU64(image, 72) | FeatureBits.INCOMPAT_DIRTY);
    try (Qcow2Image img = Qcow2Image.open(image, writable())) {
      assertEquals(0, Poke.readU64(image, 72) & FeatureBits.INCOMPAT_DIRTY, "repaired on open");
      assertEquals(-1, Arrays.mismatch(content, read(img, 0, (int) SIZE)));
    }
    LazyRefcountsTest.assertClean(dir, "dirty.qcow2");
  }

  @Test
  void imageWithAnExternalDataFileIsWrittenInPlace() throws IOException {
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "data_file=ext.raw",
        "ext.qcow2",
        Long.toString(SIZE));
    Qemu.io(dir, "ext.qcow2", "write -P 7 0 200k");
    try (Qcow2Image img =
        Qcow2Image.open(dir.resolve("ext.qcow2"), OpenOptions.builder().writable(true).build())) {
      byte[] b = new byte[100_000];
      Arrays.fill(b, (byte) 9);
      img.write(ByteBuffer.wrap(b), 150_000);
    }
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "ext.qcow2"));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    Qemu.io(dir, "ext.qcow2", "read -P 7 0 150000", "read -P 9 150000 100000");
  }

  @Test
  void dirtyImageWithAnExternalDataFileIsRepairedOnWritableOpen() throws IOException {
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "data_file=ext.raw,lazy_refcounts=on",
        "ext.qcow2",
        Long.toString(SIZE));
    Qemu.io(dir, "ext.qcow2", "write -P 7 0 200k");
    Path image = dir.resolve("ext.qcow2");
    Poke.u64(image, 72, Poke.readU64(image, 72) | FeatureBits.INCOMPAT_DIRTY);
    try (Qcow2Image img = Qcow2Image.open(image, OpenOptions.builder().writable(true).build())) {
      assertEquals(0, Poke.readU64(image, 72) & FeatureBits.INCOMPAT_DIRTY, "repaired on open");
    }
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "ext.qcow2"));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    Qemu.io(dir, "ext.qcow2", "read -P 7 0 200k");
  }

  // ---------------------------------------------------------------------------------------------
  // Images with snapshots and bitmaps

  @ParameterizedTest
  @ValueSource(
      strings = {
        "cluster_size=65536",
        "cluster_size=16384,extended_l2=on",
        "compat=0.10,cluster_size=4096",
        "cluster_size=512,refcount_bits=4",
        "cluster_size=65536,lazy_refcounts=on,compression_type=zstd"
      })
  void writingAnImageWithInternalSnapshotsKeepsThem(String options) throws IOException {
    long size = 4L << 20;
    int cs = Integer.parseInt(options.replaceAll(".*cluster_size=(\\d+).*", "$1"));
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", options, "snap.qcow2", Long.toString(size));
    Qemu.io(
        dir,
        "snap.qcow2",
        "write -P 1 0 1M",
        "write -P 2 1M 512k",
        "write -c -P 3 2M " + cs,
        "write -P 4 3M 100k");
    Qemu.img(dir, "snapshot", "-c", "first", "snap.qcow2");
    Qemu.io(dir, "snap.qcow2", "write -P 5 512k 1M", "write -z 3M 64k", "discard 1536k 128k");
    Qemu.img(dir, "snapshot", "-c", "second", "snap.qcow2");
    byte[] first = snapshotRaw("first");
    byte[] second = snapshotRaw("second");
    byte[] model = Files.readAllBytes(Qemu.toRaw(dir, "snap.qcow2", "active.before.raw"));
    assertEquals(
        -1, Arrays.mismatch(second, model), "the active layer starts as the second snapshot");

    // Our writes: partial and whole clusters, zeros, discards, compressed, over shared clusters.
    CrashWriter.Ops ops = new CrashWriter.Ops(options.hashCode(), size, cs);
    List<CrashWriter.Op> done = new java.util.ArrayList<>();
    try (Qcow2Image img = Qcow2Image.open(dir.resolve("snap.qcow2"), writable())) {
      assertEquals(2, img.snapshots().size());
      for (int i = 0; i < 80; i++) {
        CrashWriter.Op op = ops.next();
        done.add(op);
        CrashWriter.apply(img, op);
        CrashWriter.applyToModel(model, op, cs, false);
      }
      assertEquals(
          -1,
          Arrays.mismatch(model, read(img, 0, (int) size)),
          () -> "our read before close; ops " + done);
    }
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "snap.qcow2"));
    assertEquals(
        0,
        check.exitCode(),
        () -> "qemu-img check; ops " + done + ":\n" + check.stdout() + check.stderr());
    assertTrue(check.stdout().contains("No errors were found"), check.stdout());
    String list = Qemu.img(dir, "snapshot", "-l", "snap.qcow2");
    assertTrue(
        list.contains("first") && list.contains("second"),
        "qemu-img snapshot -l still lists both:\n" + list);
    assertEquals(
        -1,
        Arrays.mismatch(first, snapshotRaw("first")),
        () -> "snapshot 'first' changed; ops " + done);
    assertEquals(
        -1,
        Arrays.mismatch(second, snapshotRaw("second")),
        () -> "snapshot 'second' changed; ops " + done);
    byte[] active = Files.readAllBytes(Qemu.toRaw(dir, "snap.qcow2", "active.after.raw"));
    int m = Arrays.mismatch(model, active);
    assertEquals(-1, m, () -> "qemu's read of the active layer differs at " + m + "; ops " + done);
    try (Qcow2Image img = Qcow2Image.open(dir.resolve("snap.qcow2"))) {
      assertEquals(
          -1, Arrays.mismatch(model, read(img, 0, (int) size)), "our read after reopening");
    }
  }

  private byte[] snapshotRaw(String name) throws IOException {
    Path raw = dir.resolve("snapshot-" + name + ".raw");
    Files.deleteIfExists(raw);
    Qemu.img(
        dir,
        "convert",
        "-l",
        "snapshot.name=" + name,
        "-O",
        "raw",
        "snap.qcow2",
        raw.getFileName().toString());
    return Files.readAllBytes(raw);
  }

  @Test
  void writingAnImageWithBitmapsKeepsThemAsQemuDoes() throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "bitmaps.qcow2", Long.toString(SIZE));
    Qemu.io(dir, "bitmaps.qcow2", "write -P 7 0 200k");
    Qemu.img(dir, "bitmap", "--add", "bitmaps.qcow2", "b1");
    Qemu.img(dir, "bitmap", "--add", "-g", "128k", "bitmaps.qcow2", "b2");
    Qemu.io(dir, "bitmaps.qcow2", "write -P 8 512k 64k"); // marks both bitmaps dirty there
    Path image = dir.resolve("bitmaps.qcow2");
    assertEquals(
        FeatureBits.AUTOCLEAR_BITMAPS, Poke.readU64(image, 88) & FeatureBits.AUTOCLEAR_BITMAPS);
    assertTrue(Qemu.img(dir, "info", "bitmaps.qcow2").contains("b2"));

    try (Qcow2Image img = Qcow2Image.open(image, writable())) {
      img.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 300_000);
    }
    // The bitmaps are kept and updated, as qemu keeps them: the autoclear bit that vouches for
    // them stays, neither is left in use, and both mark the new write (BitmapTest has the rest).
    assertEquals(
        FeatureBits.AUTOCLEAR_BITMAPS,
        Poke.readU64(image, 88) & FeatureBits.AUTOCLEAR_BITMAPS,
        "bitmaps autoclear bit kept");
    Qemu.Result info =
        Qemu.exec(dir, List.of("qemu-img", "info", "--output=json", "bitmaps.qcow2"));
    assertEquals(0, info.exitCode(), info.stderr());
    assertTrue(info.stdout().contains("\"b1\"") && info.stdout().contains("\"b2\""), info.stdout());
    assertFalse(info.stdout().contains("in-use"), info.stdout());
    for (String b : List.of("b1", "b2")) {
      assertTrue(
          BitmapTest.nbdDirty(dir, "bitmaps.qcow2", b).stream()
              .anyMatch(e -> e.offset() <= 300_000 && e.offset() + e.length() > 300_002),
          b);
    }
    CrashTest.assertNoCorruption(dir, "bitmaps.qcow2", "after writing an image with bitmaps");
    byte[] raw = Files.readAllBytes(Qemu.toRaw(dir, "bitmaps.qcow2", "bitmaps.raw"));
    assertEquals(7, raw[0]);
    assertEquals(8, raw[512 << 10]);
    assertEquals(2, raw[300_001]);
    // qemu can write it again.
    Qemu.io(dir, "bitmaps.qcow2", "write -P 9 0 512");
  }

  private static byte[] read(Qcow2Image img, long at, int length) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(length);
    img.readFully(b, at);
    return b.array();
  }
}
