package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrowsExactly;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * A closed image refuses reads and block status, read-only or writable, with the same exception.
 */
@Timeout(60)
class ReadAfterCloseTest {
  private static final long SIZE = 4L << 20;

  @TempDir Path dir;

  private Path qemuImage() {
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "cluster_size=65536",
        "a.qcow2",
        Long.toString(SIZE));
    Qemu.io(dir, "a.qcow2", "write -P 7 0 64k", "write -c -P 9 1M 64k");
    return dir.resolve("a.qcow2");
  }

  @Test
  void readOnlyAndWritableImagesRefuseReadsOnceClosed() throws IOException {
    Path image = qemuImage();
    IllegalStateException readOnly = refusedAfterClose(Qcow2Image.open(image));
    IllegalStateException writable =
        refusedAfterClose(Qcow2Image.open(image, OpenOptions.builder().writable(true).build()));
    assertEquals(writable.getMessage(), readOnly.getMessage());
    assertTrue(readOnly.getMessage().contains("closed"), readOnly.getMessage());
    Qemu.img(dir, "check", "a.qcow2");
  }

  /** Reads work while open; afterwards every kind of range is refused the same way. */
  private static IllegalStateException refusedAfterClose(Qcow2Image img) throws IOException {
    byte[] sevens = new byte[512];
    java.util.Arrays.fill(sevens, (byte) 7);
    assertArrayEquals(sevens, read(img, 0), "allocated data while open");
    assertArrayEquals(new byte[512], read(img, 2 << 20), "unallocated range while open");
    assertTrue(img.blockStatus(0, SIZE).data());
    img.close();
    img.close(); // a second close is harmless
    IllegalStateException first = refused(() -> read(img, 0)); // allocated
    for (Executable call :
        new Executable[] {
          () -> read(img, 2 << 20), // unallocated: would read zeros without touching the file
          () -> read(img, 1 << 20), // compressed
          () -> img.blockStatus(0, SIZE),
          () -> img.blockStatus(2 << 20, 512)
        }) {
      assertEquals(first.getMessage(), refused(call).getMessage());
    }
    return first;
  }

  private static IllegalStateException refused(Executable call) {
    return assertThrowsExactly(IllegalStateException.class, call);
  }

  private static byte[] read(Qcow2Image img, long offset) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(512);
    img.read(b, offset);
    return b.array();
  }
}
