package dev.qcow2;

/**
 * An L1 table entry, decoded from its raw 64 bits (static methods, so lookups allocate nothing).
 *
 * <pre>
 *  bit 63     COPIED: the L2 table's refcount is exactly 1, so it may be changed in place
 *  bits 9-55  host offset of the L2 table (cluster-aligned); 0: no L2 table
 * </pre>
 */
final class L1Entry {
  static final long OFFSET_MASK = 0x00fffffffffffe00L;
  static final long COPIED = 1L << 63;

  private L1Entry() {}

  /** The host offset of the L2 table, or 0 if there is none. */
  static long l2Offset(long entry) {
    return entry & OFFSET_MASK;
  }

  static boolean isCopied(long entry) {
    return (entry & COPIED) != 0;
  }

  /** {@code entry} with COPIED set or cleared. */
  static long withCopied(long entry, boolean copied) {
    return copied ? entry | COPIED : entry & ~COPIED;
  }

  /** The entry of an L2 table at {@code l2Offset} that the active layer alone uses. */
  static long owned(long l2Offset) {
    return l2Offset | COPIED;
  }
}
