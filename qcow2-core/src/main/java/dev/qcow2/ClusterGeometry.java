package dev.qcow2;

/**
 * The numbers that follow from {@code cluster_bits} and the L2 entry width: entries per L2 table,
 * how a guest offset splits into an L1 index, an L2 index and an offset inside the cluster, and the
 * subcluster size of extended L2 tables (32 subclusters per cluster).
 */
final class ClusterGeometry {
  static final int SUBCLUSTERS_PER_CLUSTER = 32;

  final int clusterBits;
  final int clusterSize;
  final boolean extendedL2;

  /** Bytes per L2 entry: 8, or 16 with extended L2. */
  final int l2EntryBytes;

  /** log2 of the number of entries per L2 table. */
  final int l2Bits;

  final int l2Entries;
  final int subclusterBits;
  final int subclusterSize;

  ClusterGeometry(int clusterBits, boolean extendedL2) {
    this.clusterBits = clusterBits;
    this.clusterSize = 1 << clusterBits;
    this.extendedL2 = extendedL2;
    this.l2EntryBytes = extendedL2 ? 16 : 8;
    this.l2Bits = clusterBits - (extendedL2 ? 4 : 3);
    this.l2Entries = 1 << l2Bits;
    this.subclusterBits = extendedL2 ? clusterBits - 5 : clusterBits;
    this.subclusterSize = 1 << subclusterBits;
  }

  /** Guest bytes that one L2 table maps. */
  long bytesPerL2Table() {
    return 1L << (clusterBits + l2Bits);
  }

  int l1Index(long guestOffset) {
    return (int) (guestOffset >>> (clusterBits + l2Bits));
  }

  int l2Index(long guestOffset) {
    return (int) ((guestOffset >>> clusterBits) & (l2Entries - 1));
  }

  int offsetInCluster(long guestOffset) {
    return (int) (guestOffset & (clusterSize - 1));
  }

  boolean isClusterAligned(long hostOffset) {
    return (hostOffset & (clusterSize - 1)) == 0;
  }

  /** The number of L1 entries needed to map {@code virtualSize} bytes. */
  long l1EntriesFor(long virtualSize) {
    long perL1 = bytesPerL2Table();
    // No "+ perL1 - 1": sizes near 2^63 would overflow.
    return virtualSize / perL1 + (virtualSize % perL1 == 0 ? 0 : 1);
  }
}
