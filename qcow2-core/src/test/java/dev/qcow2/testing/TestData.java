package dev.qcow2.testing;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/** Seeded test content: compressible but varied, so compressed clusters have odd sizes. */
public final class TestData {
  private TestData() {}

  private static final String[] WORDS = {
    "qcow2", "cluster", "refcount", "L1", "L2", "table", "snapshot", "backing", "guest", "host",
    "offset", "zero", "deflate", "zstd", "header", "extension", "bitmap", "sector", "\n", "\0\0\0\0"
  };

  /**
   * Writes a raw file of {@code size} bytes: stretches of words, random bytes and zeros, each
   * stretch a few KiB long, decided by {@code seed}.
   */
  public static void writeRaw(Path file, long size, long seed) throws IOException {
    Random r = new Random(seed);
    byte[] block = new byte[64 << 10];
    try (OutputStream out = Files.newOutputStream(file)) {
      long left = size;
      while (left > 0) {
        int n = (int) Math.min(block.length, left);
        fill(block, n, r);
        out.write(block, 0, n);
        left -= n;
      }
    }
  }

  private static void fill(byte[] b, int n, Random r) {
    int i = 0;
    while (i < n) {
      int run = Math.min(n - i, 512 + r.nextInt(8192));
      int kind = r.nextInt(4);
      for (int j = i; j < i + run; ) {
        if (kind == 0) {
          b[j++] = 0;
        } else if (kind == 1) {
          b[j++] = (byte) r.nextInt();
        } else {
          String w = WORDS[r.nextInt(WORDS.length)];
          for (int k = 0; k < w.length() && j < i + run; k++) {
            b[j++] = (byte) w.charAt(k);
          }
        }
      }
      i += run;
    }
  }
}
