package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link BitmapScan} against a bit-by-bit model: random runs of set bits over several chunks,
 * random ranges, every granularity. Seeds print on failure.
 */
class BitmapScanTest {
  @Test
  @Timeout(value = 1, unit = TimeUnit.MINUTES)
  void runsMatchABitByBitScan() throws Exception {
    for (long seed = 1; seed <= 300; seed++) {
      Random r = new Random(seed);
      int clusterSize = 512 << r.nextInt(3);
      int chunks = 1 + r.nextInt(4);
      long bits = (long) chunks * clusterSize * 8;
      BitSet model = new BitSet();
      for (int i = r.nextInt(30); i > 0; i--) {
        int from = r.nextInt((int) bits);
        model.set(from, (int) Math.min(bits, from + 1 + r.nextInt(r.nextBoolean() ? 3 : 300)));
      }
      long[][] data = new long[chunks][clusterSize / 8];
      for (int b = model.nextSetBit(0); b >= 0; b = model.nextSetBit(b + 1)) {
        int k = (int) (b / (clusterSize * 8L));
        int in = (int) (b % (clusterSize * 8L));
        data[k][in >>> 6] |= 1L << (in & 63);
      }
      int gb = 9 + r.nextInt(4);
      long disk = (bits << gb) - r.nextInt(1 << gb);
      long offset = r.nextInt(4) == 0 ? 0 : (long) (r.nextDouble() * disk);
      long end = offset + 1 + (long) (r.nextDouble() * (disk - offset - 1));
      List<BitmapExtent> expected = naive(model, offset, end, gb);
      BitmapScan scan = new BitmapScan(k -> data[k], clusterSize);
      assertEquals(expected, scan.extents(offset, end, gb), "seed " + seed);
    }
  }

  private static List<BitmapExtent> naive(BitSet model, long offset, long end, int gb) {
    List<BitmapExtent> out = new ArrayList<>();
    long runStart = -1;
    for (long byteAt = offset; byteAt < end; byteAt = ((byteAt >>> gb) + 1) << gb) {
      boolean set = model.get((int) (byteAt >>> gb));
      if (set && runStart < 0) {
        runStart = byteAt;
      } else if (!set && runStart >= 0) {
        out.add(new BitmapExtent(runStart, byteAt - runStart));
        runStart = -1;
      }
    }
    if (runStart >= 0) {
      out.add(new BitmapExtent(runStart, end - runStart));
    }
    return out;
  }
}
