package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Shrinking: the same input shrunk by us and by qemu-img resize --shrink reads the same, and ours
 * passes qemu-img check; snapshots taken before keep what they held.
 */
class ShrinkTest {
  @TempDir Path dir;

  @ParameterizedTest(name = "{0} to {1}")
  @CsvSource({
    "cluster_size=65536, 1048576",
    "cluster_size=65536, 1049088",
    "cluster_size=512, 300032",
    "extended_l2=on, 2621440",
    "cluster_size=4096, 4096",
    "compat=0.10, 3145728",
    "refcount_bits=1, 512",
    "cluster_size=65536, 50M"
  })
  void shrinkReadsAsQemuImgShrink(String options, String newSize) throws IOException {
    for (String d : List.of("ours", "theirs")) {
      Path p = Files.createDirectories(dir.resolve(d));
      Qemu.img(p, "create", "-q", "-f", "qcow2", "-o", options, "a.qcow2", "64M");
      Qemu.io(
          p,
          "a.qcow2",
          "write -P 1 0 1M",
          "write -P 2 1040k 64k",
          "write -c -P 3 2M 64k",
          "write -z 3M 1M",
          "write -P 4 40M 1M",
          "write -P 5 63M 1M");
    }
    long size =
        newSize.endsWith("M")
            ? Long.parseLong(newSize.replace("M", "")) << 20
            : Long.parseLong(newSize);
    try (Qcow2Image img =
        Qcow2Image.open(
            dir.resolve("ours/a.qcow2"), OpenOptions.builder().writable(true).build())) {
      img.resize(size);
      assertEquals(size, img.size());
    }
    Qemu.img(dir.resolve("theirs"), "resize", "-q", "--shrink", "a.qcow2", Long.toString(size));
    Qemu.Result check = Qemu.exec(dir.resolve("ours"), List.of("qemu-img", "check", "a.qcow2"));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    assertArrayEquals(raw(dir.resolve("theirs")), raw(dir.resolve("ours")));
    // Growing again shows zeros past the old end, as in qemu's image.
    try (Qcow2Image img =
        Qcow2Image.open(
            dir.resolve("ours/a.qcow2"), OpenOptions.builder().writable(true).build())) {
      img.resize(64L << 20);
    }
    Qemu.img(dir.resolve("theirs"), "resize", "-q", "a.qcow2", "64M");
    assertArrayEquals(raw(dir.resolve("theirs")), raw(dir.resolve("ours")));
  }

  @Test
  void snapshotsKeepWhatTheyHeld() throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "8M");
    Qemu.io(dir, "a.qcow2", "write -P 1 0 8M");
    Qemu.img(dir, "snapshot", "-c", "full", "a.qcow2");
    byte[] before = raw(dir);
    try (Qcow2Image img =
        Qcow2Image.open(dir.resolve("a.qcow2"), OpenOptions.builder().writable(true).build())) {
      img.resize(1L << 20);
    }
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "a.qcow2"));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    assertArrayEquals(java.util.Arrays.copyOf(before, 1 << 20), raw(dir));
    // qemu reads a snapshot at the disk's current size; the check above proves the rest is still
    // counted. Its first MiB reads as before.
    Qemu.img(dir, "convert", "-l", "snapshot.name=full", "-O", "raw", "a.qcow2", "snap.raw");
    assertArrayEquals(
        java.util.Arrays.copyOf(before, 1 << 20), Files.readAllBytes(dir.resolve("snap.raw")));
  }

  @Test
  void versionTwoImagesWithSnapshotsAreNotResized() throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "compat=0.10", "a.qcow2", "4M");
    Qemu.img(dir, "snapshot", "-c", "s", "a.qcow2");
    try (Qcow2Image img =
        Qcow2Image.open(dir.resolve("a.qcow2"), OpenOptions.builder().writable(true).build())) {
      assertThrows(UnsupportedImageException.class, () -> img.resize(1L << 20));
    }
  }

  private static byte[] raw(Path d) throws IOException {
    Path out = Qemu.toRaw(d, "a.qcow2", "view.raw");
    byte[] b = Files.readAllBytes(out);
    Files.delete(out);
    return b;
  }
}
