package dev.qcow2.benchmarks;

import dev.qcow2.CreateOptions;
import dev.qcow2.Qcow2Image;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * The write pattern of {@code qemu-img bench -w -c COUNT -s SIZE -S STEP} on a new qcow2 image:
 * COUNT writes of SIZE bytes at offsets 0, STEP, 2*STEP, ... modulo the disk size, as qemu-img
 * bench steps. The compare script runs both side by side.
 *
 * <p>Usage: {@code java -cp benchmarks.jar dev.qcow2.benchmarks.WriteLoop IMAGE DISK_SIZE COUNT
 * SIZE STEP}; prints the seconds taken, image creation and close included.
 */
public final class WriteLoop {
  private WriteLoop() {}

  public static void main(String[] args) throws Exception {
    Path image = Path.of(args[0]);
    long diskSize = Long.parseLong(args[1]);
    int count = Integer.parseInt(args[2]);
    int size = Integer.parseInt(args[3]);
    long step = Long.parseLong(args[4]);
    ByteBuffer data = ByteBuffer.allocateDirect(size);
    while (data.hasRemaining()) {
      data.put((byte) 0xa5);
    }
    long start = System.nanoTime();
    try (Qcow2Image img = Qcow2Image.create(image, CreateOptions.builder(diskSize).build())) {
      long offset = 0;
      for (int i = 0; i < count; i++) {
        img.write(data.clear(), offset);
        offset = (offset + step) % diskSize;
      }
    }
    System.out.printf("%.3f%n", (System.nanoTime() - start) / 1e9);
  }
}
