package dev.qcow2.benchmarks;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

/**
 * The images the benchmarks read, built once per fork in a temporary folder ({@code
 * java.io.tmpdir}): a raw disk of realistic data (see {@link #writeRealistic}), and from it, with
 * qemu-img, the qcow2 images of the kinds asked for:
 *
 * <ul>
 *   <li>{@code plain}: {@code qemu-img convert -O qcow2}
 *   <li>{@code zlib}: {@code qemu-img convert -c -O qcow2 -o compression_type=zlib}
 *   <li>{@code zstd}: {@code qemu-img convert -c -O qcow2 -o compression_type=zstd}
 * </ul>
 *
 * <p>{@link #close()} deletes the folder and everything in it.
 */
final class BenchmarkImages implements AutoCloseable {
  /** The image kinds, as the benchmarks' {@code kind} parameter names them. */
  static final List<String> KINDS = List.of("plain", "zlib", "zstd");

  final Path dir;
  final Path raw;
  final long size;

  /**
   * Writes {@code size} bytes of realistic data (seed 42) and converts it to each of {@code kinds};
   * deletes what it made if a step fails.
   */
  BenchmarkImages(long size, String... kinds) throws IOException, InterruptedException {
    this.size = size;
    this.dir = Files.createTempDirectory("qcow2-bench");
    this.raw = dir.resolve("disk.raw");
    try {
      writeRealistic(raw, size, 42);
      for (String kind : kinds) {
        List<String> args = new ArrayList<>(List.of("convert"));
        switch (kind) {
          case "plain" -> args.addAll(List.of("-O", "qcow2"));
          case "zlib", "zstd" ->
              args.addAll(List.of("-c", "-O", "qcow2", "-o", "compression_type=" + kind));
          default ->
              throw new IllegalArgumentException("kind must be one of " + KINDS + ": " + kind);
        }
        args.add(raw.toString());
        args.add(path(kind).toString());
        qemuImg(args.toArray(String[]::new));
      }
    } catch (IOException | InterruptedException | RuntimeException e) {
      try {
        close();
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  /** The qcow2 image of {@code kind} in this folder. */
  Path path(String kind) {
    return dir.resolve(kind + ".qcow2");
  }

  /** Runs qemu-img with {@code args}; fails with its output if it exits with a non-zero status. */
  static void qemuImg(String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of("qemu-img"));
    cmd.addAll(List.of(args));
    Process p;
    try {
      p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IOException("cannot run qemu-img (install qemu-utils): " + e.getMessage(), e);
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IOException("qemu-img failed: " + cmd + "\n" + out);
    }
  }

  /**
   * Writes {@code size} bytes of compressible, varied content, the same for the same seed. Each 1
   * MiB block is, with probability 1/8, all zeros (unused disk space, which qemu-img leaves
   * unallocated); otherwise it is a sequence of runs of 512 B to 32 KiB: 10 % zeros, 25 % random
   * bytes (already-compressed files) and 65 % text drawn from a 4096-word vocabulary with a skewed
   * (roughly Zipf-like) word frequency, spaces, punctuation and line breaks. qemu-img's zlib
   * compression shrinks a 64 MiB disk of it to about 39 MB (zstd: 36 MB; uncompressed qcow2: 59
   * MB).
   */
  static void writeRealistic(Path file, long size, long seed) throws IOException {
    Random r = new Random(seed);
    byte[][] words = vocabulary(r, 4096);
    byte[] block = new byte[1 << 20];
    try (OutputStream out = Files.newOutputStream(file)) {
      for (long done = 0; done < size; done += block.length) {
        if (r.nextInt(8) == 0) {
          Arrays.fill(block, (byte) 0);
        } else {
          fillRuns(block, r, words);
        }
        out.write(block, 0, (int) Math.min(block.length, size - done));
      }
    }
  }

  private static void fillRuns(byte[] block, Random r, byte[][] words) {
    int i = 0;
    while (i < block.length) {
      int end = Math.min(block.length, i + 512 + r.nextInt(32 * 1024 - 512));
      int kind = r.nextInt(100);
      if (kind < 10) {
        Arrays.fill(block, i, end, (byte) 0);
        i = end;
      } else if (kind < 35) {
        while (i < end) {
          int v = r.nextInt();
          for (int k = 0; k < 4 && i < end; k++, v >>>= 8) {
            block[i++] = (byte) v;
          }
        }
      } else {
        int line = 0;
        while (i < end) {
          // nextInt(nextInt(n) + 1) favours small indexes: a few words are very common.
          byte[] w = words[r.nextInt(r.nextInt(words.length) + 1)];
          for (int k = 0; k < w.length && i < end; k++) {
            block[i++] = w[k];
          }
          line += w.length + 1;
          if (i < end) {
            int p = r.nextInt(16);
            if (line > 72) {
              block[i++] = '\n';
              line = 0;
            } else if (p < 2) {
              block[i++] = p == 0 ? (byte) ',' : (byte) '.';
              if (i < end) {
                block[i++] = ' ';
              }
            } else {
              block[i++] = ' ';
            }
          }
        }
      }
    }
  }

  private static byte[][] vocabulary(Random r, int n) {
    byte[][] words = new byte[n][];
    for (int i = 0; i < n; i++) {
      byte[] w = new byte[2 + r.nextInt(9)];
      for (int k = 0; k < w.length; k++) {
        w[k] = (byte) ('a' + r.nextInt(26));
      }
      words[i] = w;
    }
    return words;
  }

  @Override
  public void close() throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
