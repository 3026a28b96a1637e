package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Guest offsets to host offsets through the L1 and L2 tables (the lookup half of QEMU's
 * qcow2-cluster.c): what kind each cluster, or subcluster with extended L2, is in this image alone,
 * and where its data lies. Every L2 entry is checked as it is decoded; an entry that points outside
 * the file or is not aligned is a {@link CorruptImageException} naming it. Thread-safe: it reads
 * the image's current L1 table and L2 tables from the shared cache.
 */
final class ClusterMap {
  // Kinds of a run of guest bytes in this image alone, as qemu's subcluster types.
  static final int UNALLOCATED = 0;
  static final int ZERO_PLAIN = 1;
  static final int ZERO_ALLOC = 2;
  static final int NORMAL = 3;
  static final int COMPRESSED = 4;

  /** An unallocated subcluster of an allocated cluster: host space exists, reads go below. */
  static final int UNALLOCATED_ALLOC = 5;

  private final Qcow2Image image;
  private final ClusterGeometry g;
  private final String filename;
  private final L2Cache l2Cache;

  /** Data clusters lie in an external data file, where offset 0 with COPIED is a real cluster. */
  private final boolean external;

  ClusterMap(Qcow2Image image, ClusterGeometry g, L2Cache l2Cache, boolean external) {
    this.image = image;
    this.g = g;
    this.filename = image.filename();
    this.l2Cache = l2Cache;
    this.external = external;
  }

  /**
   * Reads {@code entries} big-endian 64-bit table entries at {@code offset} (past the end: zeros).
   */
  static long[] readTable(Storage storage, long offset, int entries) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(entries * 8);
    storage.readOrZero(b, offset);
    b.flip();
    long[] t = new long[entries];
    b.asLongBuffer().get(t);
    return t;
  }

  /** The L2 table that L1 entry {@code l1Index} names, checked to lie in the file. */
  long[] l2Table(int l1Index, long l2Offset) throws IOException {
    if (!g.isClusterAligned(l2Offset) || l2Offset > image.fileSize() - g.clusterSize) {
      throw new CorruptImageException(
          filename,
          Structure.L2_TABLE,
          image.l1TableOffset() + 8L * l1Index,
          "offset 0x"
              + Long.toHexString(l2Offset)
              + (g.isClusterAligned(l2Offset)
                  ? " lies outside the file"
                  : " is not cluster-aligned")
              + " (L1 index "
              + l1Index
              + ")");
    }
    return l2Cache.get(l2Offset);
  }

  /**
   * The kind of one unit (a cluster, or a subcluster with extended L2) and its host offset, packed
   * into one long: host offsets are multiples of 512, so the low bits carry the kind. Returns the
   * kind alone for units that have no host offset.
   */
  private long unit(long entry, long bitmap, int subcluster, int l1Index, int l2Index)
      throws CorruptImageException {
    if (L2Entry.isCompressed(entry)) {
      if (g.extendedL2 && bitmap != 0) {
        throw corruptL2Entry(
            l1Index, l2Index, "is compressed but has a non-zero subcluster bitmap");
      }
      return COMPRESSED;
    }
    long offset = L2Entry.hostOffset(entry);
    boolean allocated = offset != 0 || (external && L2Entry.isCopied(entry));
    if (!g.extendedL2) {
      if (L2Entry.hasZeroFlag(entry)) {
        return offset != 0 ? checkedHost(offset, l1Index, l2Index) | ZERO_ALLOC : ZERO_PLAIN;
      }
      return allocated ? checkedHost(offset, l1Index, l2Index) | NORMAL : UNALLOCATED;
    }
    if (allocated) {
      if ((SubclusterBitmap.allocated(bitmap) & SubclusterBitmap.zero(bitmap)) != 0) {
        throw corruptL2Entry(l1Index, l2Index, "has subclusters marked both allocated and zero");
      }
      long host = checkedHost(offset, l1Index, l2Index) + ((long) subcluster << g.subclusterBits);
      if (SubclusterBitmap.isZero(bitmap, subcluster)) {
        return host | ZERO_ALLOC;
      }
      return SubclusterBitmap.isAllocated(bitmap, subcluster)
          ? host | NORMAL
          : host | UNALLOCATED_ALLOC;
    }
    if (SubclusterBitmap.allocated(bitmap) != 0) {
      throw corruptL2Entry(l1Index, l2Index, "is unallocated but has allocated subclusters");
    }
    return SubclusterBitmap.isZero(bitmap, subcluster) ? ZERO_PLAIN : UNALLOCATED;
  }

  long checkedHost(long offset, int l1Index, int l2Index) throws CorruptImageException {
    if (!g.isClusterAligned(offset)) {
      throw corruptL2Entry(
          l1Index,
          l2Index,
          "points to 0x" + Long.toHexString(offset) + ", which is not cluster-aligned");
    }
    if (!external && offset >= image.fileSize()) {
      throw corruptL2Entry(
          l1Index,
          l2Index,
          "points to 0x" + Long.toHexString(offset) + ", past the end of the file");
    }
    return offset;
  }

  private CorruptImageException corruptL2Entry(int l1Index, int l2Index, String problem) {
    long l2Offset = L1Entry.l2Offset(image.l1()[l1Index]);
    return new CorruptImageException(
        filename,
        Structure.L2_TABLE,
        l2Offset + (long) l2Index * g.l2EntryBytes,
        "entry " + problem + " (L1 index " + l1Index + ", L2 index " + l2Index + ")");
  }

  /**
   * A run of guest bytes of one kind in this image alone.
   *
   * @param kind one of the kind constants
   * @param length bytes in the run
   * @param hostOffset host offset of the run's first byte for NORMAL, ZERO_ALLOC and
   *     UNALLOCATED_ALLOC, else -1
   * @param descriptor the L2 entry for COMPRESSED runs
   */
  record Run(int kind, long length, long hostOffset, long descriptor) {}

  /**
   * Maps the guest bytes at {@code guestOffset}: the longest run, at most {@code maxLength} bytes
   * and within one L2 table, whose units share a kind and, where they have host offsets, lie back
   * to back in the host file. A compressed run never goes past its cluster; an unallocated run
   * spans every following L1 entry that has no L2 table.
   */
  Run lookup(long guestOffset, long maxLength) throws IOException {
    long perTable = g.bytesPerL2Table();
    long limit = Math.min(maxLength, perTable - (guestOffset & (perTable - 1)));
    int l1Index = g.l1Index(guestOffset);
    long[] l1 = image.l1();
    long l2Offset = L1Entry.l2Offset(l1[l1Index]);
    if (l2Offset == 0) {
      // Whole L2 tables missing in a row are one run, so sparse disks map in few steps.
      long length = limit;
      for (int i = l1Index + 1;
          length < maxLength && i < l1.length && L1Entry.l2Offset(l1[i]) == 0;
          i++) {
        length = Math.min(maxLength, length + perTable);
      }
      return new Run(UNALLOCATED, length, -1, 0);
    }
    long[] table = l2Table(l1Index, l2Offset);
    int l2Index = g.l2Index(guestOffset);
    int unitBits = g.subclusterBits;
    int unitSize = 1 << unitBits;
    int subcluster = (int) ((guestOffset & (g.clusterSize - 1)) >>> unitBits);
    int inUnit = (int) (guestOffset & (unitSize - 1));

    long first = unitAt(table, l2Index, subcluster, l1Index);
    int kind = (int) (first & 7);
    if (kind == COMPRESSED) {
      long entry = g.extendedL2 ? table[2 * l2Index] : table[l2Index];
      return new Run(
          COMPRESSED, Math.min(limit, g.clusterSize - g.offsetInCluster(guestOffset)), -1, entry);
    }
    boolean hasHost = kind == NORMAL || kind == ZERO_ALLOC || kind == UNALLOCATED_ALLOC;
    long host = first & ~7L;
    long length = unitSize - inUnit;
    while (length < limit) {
      if (++subcluster == (g.extendedL2 ? ClusterGeometry.SUBCLUSTERS_PER_CLUSTER : 1)) {
        subcluster = 0;
        l2Index++;
      }
      long next = unitAt(table, l2Index, subcluster, l1Index);
      if ((int) (next & 7) != kind || (hasHost && (next & ~7L) != host + inUnit + length)) {
        break;
      }
      length += unitSize;
    }
    return new Run(kind, Math.min(length, limit), hasHost ? host + inUnit : -1, 0);
  }

  private long unitAt(long[] table, int l2Index, int subcluster, int l1Index)
      throws CorruptImageException {
    if (g.extendedL2) {
      return unit(table[2 * l2Index], table[2 * l2Index + 1], subcluster, l1Index, l2Index);
    }
    return unit(table[l2Index], 0, 0, l1Index, l2Index);
  }
}
