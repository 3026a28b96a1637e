package dev.qcow2.benchmarks;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

/**
 * Builds the images the benchmarks read, once per fork, with qemu-img: a raw disk of realistic
 * data (text-like runs, random bytes and zero runs, seeded), and from it a plain, a zlib and a
 * zstd qcow2 image.
 */
final class BenchmarkImages implements AutoCloseable {
  final Path dir;
  final Path raw;
  final long size;

  BenchmarkImages(long size) throws IOException, InterruptedException {
    this.size = size;
    this.dir = Files.createTempDirectory("qcow2-bench");
    this.raw = dir.resolve("disk.raw");
    writeRealistic(raw, size, 42);
    qemuImg("convert", "-O", "qcow2", raw.toString(), path("plain").toString());
    qemuImg("convert", "-c", "-O", "qcow2", "-o", "compression_type=zlib", raw.toString(), path("zlib").toString());
    qemuImg("convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd", raw.toString(), path("zstd").toString());
  }

  Path path(String kind) {
    return dir.resolve(kind + ".qcow2");
  }

  static void qemuImg(String... args) throws IOException, InterruptedException {
    List<String> cmd = new java.util.ArrayList<>(List.of("qemu-img"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IOException("qemu-img failed: " + cmd + "\n" + out);
    }
  }

  /** Compressible, varied content: a quarter zero runs, a quarter random, half words. */
  static void writeRealistic(Path file, long size, long seed) throws IOException {
    String[] words = {"the ", "qcow2 ", "cluster ", "data ", "\n", "offset ", "1234 ", "guest ", "host ", "table "};
    Random r = new Random(seed);
    byte[] block = new byte[1 << 20];
    try (OutputStream out = Files.newOutputStream(file)) {
      for (long done = 0; done < size; done += block.length) {
        int i = 0;
        while (i < block.length) {
          int run = Math.min(block.length - i, 1024 + r.nextInt(16384));
          int kind = r.nextInt(4);
          for (int j = i; j < i + run; ) {
            if (kind == 0) {
              block[j++] = 0;
            } else if (kind == 1) {
              block[j++] = (byte) r.nextInt();
            } else {
              String w = words[r.nextInt(words.length)];
              for (int k = 0; k < w.length() && j < i + run; k++) {
                block[j++] = (byte) w.charAt(k);
              }
            }
          }
          i += run;
        }
        out.write(block, 0, (int) Math.min(block.length, size - done));
      }
    }
  }

  @Override
  public void close() throws IOException {
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
