package dev.qcow2;

/**
 * The second 64 bits of an extended L2 entry: bit i (0-31) says subcluster i is allocated (its data
 * at host offset + i * subcluster size), bit 32 + i that it reads as zeros. Both set is invalid; a
 * compressed entry's bitmap is 0. Static methods over the raw long.
 */
final class SubclusterBitmap {
  /** Every subcluster allocated, none zero: what a whole-cluster write leaves. */
  static final long ALL_ALLOCATED = 0xffffffffL;

  /** Every subcluster zero, none allocated. */
  static final long ALL_ZERO = 0xffffffffL << 32;

  private SubclusterBitmap() {}

  /** The 32 allocation bits. */
  static long allocated(long bitmap) {
    return bitmap & 0xffffffffL;
  }

  /** The 32 zero bits. */
  static long zero(long bitmap) {
    return bitmap >>> 32;
  }

  static long of(long allocated, long zero) {
    return (zero << 32) | (allocated & 0xffffffffL);
  }

  static boolean isAllocated(long bitmap, int subcluster) {
    return (bitmap & (1L << subcluster)) != 0;
  }

  static boolean isZero(long bitmap, int subcluster) {
    return (bitmap & (1L << (32 + subcluster))) != 0;
  }

  /** The bits of subclusters {@code first} to {@code last}, both included. */
  static long range(int first, int last) {
    return ((1L << (last + 1)) - 1) & ~((1L << first) - 1);
  }
}
