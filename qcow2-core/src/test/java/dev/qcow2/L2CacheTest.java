package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The L2 cache keeps at most what its size allows, so a huge sparse image reads in bounded memory.
 */
class L2CacheTest {

  @Test
  void terabyteSparseImageReadsWithinTheCacheBound(@TempDir Path dir) throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "big.qcow2", "1T");
    // One write per 64 GiB: 16 L2 tables, far apart.
    List<String> writes = new ArrayList<>();
    for (long at = 0; at < (1L << 40); at += 64L << 30) {
      writes.add(
          "write -P 0x" + Long.toHexString(0x10 + (at >>> 36)) + " " + (at + 4096) + " 4096");
    }
    Qemu.io(dir, "big.qcow2", writes.toArray(new String[0]));
    OpenOptions options = OpenOptions.builder().l2CacheSize(4 * 65536).build();
    try (Qcow2Image img = Qcow2Image.open(dir.resolve("big.qcow2"), options)) {
      assertEquals(1L << 40, img.size());
      assertEquals(4, img.l2Cache().capacity());
      ByteBuffer buf = ByteBuffer.allocate(8192);
      for (long at = 0; at < (1L << 40); at += 64L << 30) {
        buf.clear();
        img.readFully(buf, at);
        int expected = (int) (0x10 + (at >>> 36));
        for (int i = 0; i < 8192; i++) {
          assertEquals(i < 4096 ? 0 : (byte) expected, buf.get(i), "byte " + i + " at " + at);
        }
        assertTrue(img.l2Cache().size() <= 4, "cache holds " + img.l2Cache().size() + " tables");
      }
      // Mapping the whole disk visits each allocated table once and every hole in one step.
      long at = 0;
      int runs = 0;
      while (at < img.size()) {
        at += img.blockStatus(at, img.size() - at).length();
        runs++;
      }
      assertTrue(runs < 200, "runs: " + runs);
      assertTrue(img.l2Cache().size() <= 4);
    }
  }

  @Test
  void cacheNeverHoldsMoreTablesThanTheImageHas(@TempDir Path dir) throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "small.qcow2", "100M");
    try (Qcow2Image img = Qcow2Image.open(dir.resolve("small.qcow2"))) {
      // 100 MiB at 64 KiB clusters needs one L2 table; qemu keeps at least two entries.
      assertEquals(2, img.l2Cache().capacity());
    }
  }
}
