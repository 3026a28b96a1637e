package dev.qcow2.benchmarks;

import dev.qcow2.DiskImage;
import dev.qcow2.convert.ImageConverter;
import java.nio.file.Path;

/**
 * {@code convert -O raw} with nothing around it: opens SRC (qcow2 or raw) and writes its virtual
 * disk to DST as a sparse raw file with {@link ImageConverter#toRaw}, on N threads (default: all
 * available processors). It is the stand-in that {@code compare-qemu.sh} can time instead of {@code
 * bin/qcow2}, to tell the library's cost from the CLI's.
 *
 * <p>Usage: {@code java -cp benchmarks/target/benchmarks.jar dev.qcow2.benchmarks.RawExport [-m N]
 * SRC DST}, or for the script: {@code OURS_CMD="java -cp benchmarks/target/benchmarks.jar
 * dev.qcow2.benchmarks.RawExport" benchmarks/compare-qemu.sh}. Exit status 2 on bad arguments.
 */
public final class RawExport {
  private RawExport() {}

  public static void main(String[] args) throws Exception {
    int threads = Runtime.getRuntime().availableProcessors();
    int i = 0;
    if (args.length == 4 && args[0].equals("-m")) {
      try {
        threads = Integer.parseInt(args[1]);
      } catch (NumberFormatException e) {
        threads = 0;
      }
      i = 2;
    }
    if (args.length - i != 2 || threads < 1) {
      System.err.println("usage: RawExport [-m THREADS] SRC DST   (THREADS >= 1)");
      System.exit(2);
    }
    try (DiskImage image = DiskImage.open(Path.of(args[i]))) {
      ImageConverter.toRaw(image, Path.of(args[i + 1]), threads, null);
    }
  }
}
