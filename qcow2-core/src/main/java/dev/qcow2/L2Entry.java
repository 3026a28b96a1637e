package dev.qcow2;

/**
 * An L2 table entry's descriptor, decoded from its raw 64 bits (static methods, so the hot paths
 * allocate nothing). With extended L2 each entry is followed by a {@link SubclusterBitmap}.
 *
 * <pre>
 *  bit 63     COPIED: the cluster's refcount is exactly 1, so it may be written in place
 *  bit 62     compressed: bits 0-61 are a {@link CompressedDescriptor}
 *  standard descriptor (bit 62 clear):
 *  bits 9-55  host offset of the data cluster (cluster-aligned); 0: none
 *  bit 0      zero flag (version 3 without extended L2): the cluster reads as zeros
 * </pre>
 *
 * In an external data file offset 0 is a real cluster, told from an unallocated one by COPIED.
 */
final class L2Entry {
  static final long OFFSET_MASK = 0x00fffffffffffe00L;
  static final long COPIED = 1L << 63;
  static final long COMPRESSED = 1L << 62;
  static final long ZERO = 1L;

  /** Unallocated: reads go to the backing file, or give zeros. */
  static final long UNALLOCATED = 0;

  private L2Entry() {}

  static boolean isCompressed(long entry) {
    return (entry & COMPRESSED) != 0;
  }

  static boolean isCopied(long entry) {
    return (entry & COPIED) != 0;
  }

  /** The zero flag of a standard descriptor (qemu ignores it with extended L2). */
  static boolean hasZeroFlag(long entry) {
    return (entry & ZERO) != 0;
  }

  /** The data cluster's host offset of a standard descriptor, or 0; meaningless if compressed. */
  static long hostOffset(long entry) {
    return entry & OFFSET_MASK;
  }

  /** Whether the entry holds host space of the image file: a data cluster or compressed bytes. */
  static boolean holdsHostSpace(long entry) {
    return (entry & (COMPRESSED | OFFSET_MASK)) != 0;
  }

  /** The host offset of a plain (not compressed) data cluster, or -1 for any other entry. */
  static long plainHostOffset(long entry) {
    return isCompressed(entry) ? -1 : hostOffset(entry);
  }

  /** {@code entry} with COPIED set or cleared. */
  static long withCopied(long entry, boolean copied) {
    return copied ? entry | COPIED : entry & ~COPIED;
  }

  /**
   * A standard descriptor of a data cluster at {@code hostOffset} that the active layer alone uses.
   */
  static long owned(long hostOffset) {
    return hostOffset | COPIED;
  }

  /**
   * Whether the entry is a cluster the active layer alone holds (COPIED, not compressed) with host
   * space: a non-zero offset, or any offset in an external data file.
   */
  static boolean isOwned(long entry, boolean externalData) {
    return (hostOffset(entry) != 0 || externalData) && (entry & (COPIED | COMPRESSED)) == COPIED;
  }
}
