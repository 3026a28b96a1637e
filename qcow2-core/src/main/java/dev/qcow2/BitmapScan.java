package dev.qcow2;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds the runs of set bits of one bitmap in a range of guest bytes, a 64-bit word at a time, one
 * chunk (cluster of bitmap data, see {@link BitmapTable}) in memory at once.
 */
final class BitmapScan {
  /** Chunk {@code k} of the bitmap as it now is; not to be changed. */
  interface Chunks {
    long[] chunk(int k) throws IOException;
  }

  private final Chunks chunks;
  private final long bitsPerChunk;
  private int lastIndex = -1;
  private long[] last;

  BitmapScan(Chunks chunks, int clusterSize) {
    this.chunks = chunks;
    this.bitsPerChunk = clusterSize * 8L;
  }

  /**
   * The runs in guest bytes [offset, end) of a bitmap whose bits cover {@code 1 << granularityBits}
   * bytes each, cut to that range, adjacent runs joined.
   */
  List<BitmapExtent> extents(long offset, long end, int granularityBits) throws IOException {
    List<BitmapExtent> out = new ArrayList<>();
    long endBit = ((end - 1) >>> granularityBits) + 1;
    long bit = offset >>> granularityBits;
    while (bit < endBit) {
      long first = next(bit, endBit, true);
      if (first >= endBit) {
        break;
      }
      long after = next(first, endBit, false);
      long from = Math.max(offset, first << granularityBits);
      long to = Math.min(end, after << granularityBits);
      out.add(new BitmapExtent(from, to - from));
      bit = after;
    }
    return out;
  }

  /** The first bit in [from, to) that is set (or clear), or {@code to}. */
  private long next(long from, long to, boolean set) throws IOException {
    long bit = from;
    while (bit < to) {
      int k = (int) (bit / bitsPerChunk);
      long[] words = chunk(k);
      long base = k * bitsPerChunk;
      long chunkEnd = Math.min(to, base + bitsPerChunk);
      for (long i = bit - base; base + i < chunkEnd; i = (i & ~63L) + 64) {
        long w = set ? words[(int) (i >>> 6)] : ~words[(int) (i >>> 6)];
        w &= -1L << (i & 63);
        if (w != 0) {
          return Math.min(to, base + (i & ~63L) + Long.numberOfTrailingZeros(w));
        }
      }
      bit = chunkEnd;
    }
    return to;
  }

  private long[] chunk(int k) throws IOException {
    if (k != lastIndex) {
      last = chunks.chunk(k);
      lastIndex = k;
    }
    return last;
  }
}
