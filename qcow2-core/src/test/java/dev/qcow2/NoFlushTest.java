package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * qemu's cache.no-flush (cache mode unsafe, qemu-img convert's default for its output): flushes
 * stop short of the disk, and everything else, the order of the writes included, stays as it is.
 */
@Timeout(60)
class NoFlushTest {
  @TempDir Path dir;

  @Test
  void anImageOpenedWithNoFlushNeverForcesTheFileAndStaysWhole() throws Exception {
    Path path = dir.resolve("a.qcow2");
    byte[] data = new byte[3 << 16];
    Arrays.fill(data, (byte) 7);
    OpenOptions noFlush = OpenOptions.builder().noFlush(true).build();
    assertTrue(noFlush.noFlush());
    assertTrue(noFlush.toBuilder().build().noFlush());
    try (Qcow2Image image =
        Qcow2Image.create(path, CreateOptions.builder(1 << 20).build(), noFlush)) {
      assertFalse(((FileStorage) image.storage()).flushes());
      image.write(ByteBuffer.wrap(data), 4096);
      image.flush();
    }
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "a.qcow2"));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    Qemu.img(dir, "convert", "-O", "raw", "a.qcow2", "a.raw");
    byte[] expected = new byte[1 << 20];
    System.arraycopy(data, 0, expected, 4096, data.length);
    assertArrayEquals(expected, Files.readAllBytes(dir.resolve("a.raw")));
  }

  @Test
  void byDefaultFlushesReachTheDisk() throws Exception {
    Path path = dir.resolve("b.qcow2");
    assertFalse(OpenOptions.defaults().noFlush());
    try (Qcow2Image image = Qcow2Image.create(path, CreateOptions.builder(1 << 20).build())) {
      assertTrue(((FileStorage) image.storage()).flushes());
    }
    try (Qcow2Image image =
        Qcow2Image.open(path, OpenOptions.builder().writable(true).noFlush(true).build())) {
      assertFalse(((FileStorage) image.storage()).flushes());
    }
  }
}
