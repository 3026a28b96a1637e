package dev.qcow2;

/**
 * The descriptor of a compressed cluster: bits 0-61 of an L2 entry with the compressed bit set.
 * With {@code x = 62 - (cluster_bits - 8)}:
 *
 * <pre>
 *  bits 0 .. x-1   host byte offset of the compressed bytes (any alignment; bits over 55 zero)
 *  bits x .. 61    additional 512-byte sectors, beyond the one holding the offset, they occupy
 * </pre>
 *
 * Static methods over the raw long, so the read path allocates nothing.
 */
final class CompressedDescriptor {
  /** Host offsets are at most 56 bits, as for every other host offset. */
  static final long MAX_HOST_OFFSET = (1L << 56) - 1;

  private CompressedDescriptor() {}

  private static int sizeShift(int clusterBits) {
    return 62 - (clusterBits - 8);
  }

  /** The host byte offset of the compressed bytes (qemu's coffset). */
  static long hostOffset(long entry, int clusterBits) {
    return entry & ((1L << sizeShift(clusterBits)) - 1);
  }

  /** The 512-byte sectors the compressed bytes touch (qemu's nb_sectors). */
  static long sectors(long entry, int clusterBits) {
    return ((entry >>> sizeShift(clusterBits)) & ((1L << (clusterBits - 8)) - 1)) + 1;
  }

  /** The bytes to read from {@link #hostOffset}: to the end of the last sector (qemu's csize). */
  static int compressedSize(long entry, int clusterBits) {
    return (int) (sectors(entry, clusterBits) * 512 - (hostOffset(entry, clusterBits) & 511));
  }

  /** Where the first sector the compressed bytes touch begins. */
  static long sectorStart(long entry, int clusterBits) {
    return hostOffset(entry, clusterBits) & ~511L;
  }

  /** The bytes of the whole sectors the compressed bytes touch, from {@link #sectorStart}. */
  static long sectorBytes(long entry, int clusterBits) {
    return sectors(entry, clusterBits) * 512;
  }

  /** The first host cluster the compressed bytes touch. */
  static long firstCluster(long entry, int clusterBits) {
    return sectorStart(entry, clusterBits) >>> clusterBits;
  }

  /** The host clusters the compressed bytes touch, each counted once per compressed cluster. */
  static long clusterCount(long entry, int clusterBits) {
    long start = sectorStart(entry, clusterBits);
    long last = (start + sectorBytes(entry, clusterBits) - 1) >>> clusterBits;
    return last - (start >>> clusterBits) + 1;
  }

  /** The L2 entry for {@code size} compressed bytes at {@code hostOffset}. */
  static long entry(long hostOffset, int size, int clusterBits) {
    long additional = ((hostOffset + size - 1) >>> 9) - (hostOffset >>> 9);
    return L2Entry.COMPRESSED | (additional << sizeShift(clusterBits)) | hostOffset;
  }
}
