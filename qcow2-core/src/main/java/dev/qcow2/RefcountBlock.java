package dev.qcow2;

/**
 * Reads and writes entries of one refcount block: a cluster of {@code refcount_bits}-wide entries,
 * {@code refcount_bits = 1 << refcount_order}.
 *
 * <p>Widths below a byte pack from the least significant bit: with 1-bit entries, entry i is bit
 * {@code i % 8} of byte {@code i / 8}. Widths of 8 to 64 bits are big-endian integers.
 */
final class RefcountBlock {
  private RefcountBlock() {}

  static int entries(int clusterSize, int order) {
    return (clusterSize * 8) >>> order;
  }

  /** The largest refcount the width can hold: 2^bits - 1 (for 64 bits, as an unsigned value). */
  static long max(int order) {
    return order == 6 ? -1L : (1L << (1 << order)) - 1;
  }

  static long get(byte[] block, int index, int order) {
    switch (order) {
      case 0:
      case 1:
      case 2:
        {
          int bits = 1 << order;
          int perByte = 8 >>> order;
          int shift = (index % perByte) * bits;
          return ((block[index / perByte] & 0xff) >>> shift) & ((1 << bits) - 1);
        }
      default:
        {
          int bytes = 1 << (order - 3);
          int at = index * bytes;
          long v = 0;
          for (int i = 0; i < bytes; i++) {
            v = (v << 8) | (block[at + i] & 0xff);
          }
          return v;
        }
    }
  }

  static void set(byte[] block, int index, int order, long value) {
    switch (order) {
      case 0:
      case 1:
      case 2:
        {
          int bits = 1 << order;
          int perByte = 8 >>> order;
          int shift = (index % perByte) * bits;
          int mask = ((1 << bits) - 1) << shift;
          int at = index / perByte;
          block[at] = (byte) ((block[at] & ~mask) | (((int) value << shift) & mask));
          return;
        }
      default:
        {
          int bytes = 1 << (order - 3);
          int at = index * bytes;
          for (int i = bytes - 1; i >= 0; i--) {
            block[at + i] = (byte) value;
            value >>>= 8;
          }
        }
    }
  }
}
