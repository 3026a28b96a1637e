package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Growing an image grows its L1 table when needed; qemu then reads old and new data alike. */
class ResizeTest {
  @TempDir Path dir;

  @ParameterizedTest(name = "cluster={0} to {1}")
  @CsvSource({"65536, 8589934592", "512, 67108864", "4096, 1073741824", "65536, 16777216"})
  void growingKeepsDataAndQemuReadsTheNewSize(int clusterSize, long newSize) throws IOException {
    Path path = dir.resolve("r.qcow2");
    try (Qcow2Image img =
        Qcow2Image.create(path, CreateOptions.builder(8L << 20).clusterSize(clusterSize).build())) {
      img.write(pattern(100_000, 1), 12_345);
      img.resize(newSize);
      assertEquals(newSize, img.size());
      img.write(pattern(70_000, 2), newSize - 70_000);
      ByteBuffer b = ByteBuffer.allocate(100_000);
      img.readFully(b, 12_345);
      assertEquals(pattern(100_000, 1), b.flip());
    }
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "r.qcow2"));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    assertTrue(Qemu.img(dir, "info", "r.qcow2").contains("(" + newSize + " bytes)"));
    Qemu.io(
        dir,
        "r.qcow2",
        "read -P 1 12345 100000",
        "read -P 2 " + (newSize - 70_000) + " 70000",
        "read -P 0 " + (8L << 20) + " 4096");
    assertTrue(ImageChecker.check(path, ImageChecker.Repair.NONE).isClean());
  }

  @Test
  void sizesThatAreNotWholeSectorsAreRefusedAndChangeNothing() throws IOException {
    Path path = dir.resolve("s.qcow2");
    try (Qcow2Image img = Qcow2Image.create(path, CreateOptions.builder(8L << 20).build())) {
      // qemu's words, which qcow2 resize prints unchanged.
      assertEquals(
          "The new size must be a multiple of 512",
          assertThrows(IllegalArgumentException.class, () -> img.resize((8L << 20) + 1))
              .getMessage());
      assertThrows(IllegalArgumentException.class, () -> img.resize((4L << 20) + 1));
      assertEquals(8L << 20, img.size());
    }
  }

  @Test
  void version2ImageWithSnapshotsCannotBeResized() throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "compat=0.10", "v2.qcow2", "8M");
    Qemu.img(dir, "snapshot", "-c", "s", "v2.qcow2");
    try (Qcow2Image img =
        Qcow2Image.open(dir.resolve("v2.qcow2"), OpenOptions.builder().writable(true).build())) {
      assertThrows(UnsupportedImageException.class, () -> img.resize(16L << 20));
    }
  }

  static ByteBuffer pattern(int n, int value) {
    byte[] b = new byte[n];
    Arrays.fill(b, (byte) value);
    return ByteBuffer.wrap(b);
  }
}
