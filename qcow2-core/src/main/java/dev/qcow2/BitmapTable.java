package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A bitmap table and the bitmap data clusters it names. Each 8-byte entry describes one cluster of
 * the bitmap: bits 9-55 the data cluster's offset, or 0 for a cluster not stored, in which case bit
 * 0 says whether it reads as all ones (1) or all zeros (0); the other bits are reserved. In the
 * data, bit {@code j} of the bitmap is bit {@code j % 8} of byte {@code j / 8}, and bit {@code j}
 * covers guest bytes from {@code j * granularity}. Here one cluster of bitmap data is a chunk: a
 * {@code long[]} whose words hold the bytes in little-endian order, so that bit {@code j} of the
 * chunk is bit {@code j % 64} of word {@code j / 64}.
 */
final class BitmapTable {
  static final long OFFSET_MASK = 0x00fffffffffffe00L;
  static final long RESERVED_MASK = 0xff000000000001feL;
  static final long ALL_ONES = 1L;

  private BitmapTable() {}

  /** The table's entries, read as they are; each is checked when its cluster is read. */
  static long[] read(Storage storage, BitmapEntry e) throws IOException {
    return ClusterMap.readTable(storage, e.tableOffset(), e.tableSize());
  }

  /** The chunk that {@code entry}, the {@code index}th of bitmap {@code e}'s table, describes. */
  static long[] chunk(
      String image,
      Storage storage,
      ClusterGeometry g,
      long fileSize,
      BitmapEntry e,
      int index,
      long entry)
      throws IOException {
    check(image, g, e, index, entry);
    long[] words = new long[g.clusterSize / 8];
    long offset = entry & OFFSET_MASK;
    long at = e.tableOffset() + 8L * index;
    if (offset == 0) {
      if ((entry & ALL_ONES) != 0) {
        java.util.Arrays.fill(words, -1L);
      }
      return words;
    }
    if (offset > fileSize - g.clusterSize) {
      throw new CorruptImageException(
          image,
          Structure.BITMAP_TABLE,
          at,
          "entry of bitmap '"
              + e.name()
              + "' points to 0x"
              + Long.toHexString(offset)
              + ", past the end of the file");
    }
    ByteBuffer b = ByteBuffer.allocate(g.clusterSize);
    storage.readOrZero(b, offset);
    b.flip().order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(words);
    return words;
  }

  /** qemu's check_table_entry: no reserved bits, an aligned offset, no all-ones flag with one. */
  static void check(String image, ClusterGeometry g, BitmapEntry e, int index, long entry)
      throws CorruptImageException {
    long offset = entry & OFFSET_MASK;
    if ((entry & RESERVED_MASK) != 0
        || (offset != 0 && (entry & ALL_ONES) != 0)
        || !g.isClusterAligned(offset)) {
      throw new CorruptImageException(
          image,
          Structure.BITMAP_TABLE,
          e.tableOffset() + 8L * index,
          "entry 0x" + Long.toHexString(entry) + " of bitmap '" + e.name() + "' is invalid");
    }
  }

  /** The chunk's bytes as the data cluster holds them. */
  static ByteBuffer bytes(long[] words) {
    ByteBuffer b = ByteBuffer.allocate(words.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    b.asLongBuffer().put(words);
    return b.order(ByteOrder.BIG_ENDIAN);
  }

  static boolean isZero(long[] words) {
    for (long w : words) {
      if (w != 0) {
        return false;
      }
    }
    return true;
  }

  /** Sets bits [from, to) of a chunk. */
  static void set(long[] words, long from, long to) {
    for (long bit = from; bit < to; ) {
      int word = (int) (bit >>> 6);
      int lo = (int) (bit & 63);
      int n = (int) Math.min(64 - lo, to - bit);
      long mask = n == 64 ? -1L : ((1L << n) - 1) << lo;
      words[word] |= mask;
      bit += n;
    }
  }
}
