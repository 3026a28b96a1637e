package dev.qcow2;

import java.util.ArrayList;
import java.util.List;

/**
 * qemu's overlap check for the bitmap structures (QCOW2_OL_BITMAP_DIRECTORY): the bitmap directory
 * and the bitmap tables must not share a cluster with the header, the active L1 table, the refcount
 * table, the snapshot table or each other, since writing one would destroy the other.
 */
final class BitmapOverlaps {
  private record Range(long first, long end, Structure what, long at) {}

  private final String image;
  private final ClusterGeometry g;
  private final List<Range> taken = new ArrayList<>();

  BitmapOverlaps(String image, Header h, ClusterGeometry g) {
    this.image = image;
    this.g = g;
    add(0, g.clusterSize, Structure.HEADER, 0);
    add(h.l1TableOffset(), 8L * h.l1Size(), Structure.L1_TABLE, h.l1TableOffset());
    add(
        h.refcountTableOffset(),
        (long) h.refcountTableClusters() * g.clusterSize,
        Structure.REFCOUNT_TABLE,
        h.refcountTableOffset());
    if (h.nbSnapshots() > 0) {
      add(h.snapshotsOffset(), 1, Structure.SNAPSHOT_TABLE, h.snapshotsOffset());
    }
  }

  private void add(long offset, long bytes, Structure what, long at) {
    if (bytes > 0) {
      taken.add(new Range(offset >>> g.clusterBits, clusterEnd(offset, bytes), what, at));
    }
  }

  private long clusterEnd(long offset, long bytes) {
    return (offset + bytes + g.clusterSize - 1) >>> g.clusterBits;
  }

  /** Checks the directory at {@code offset} and the tables its entries name. */
  void check(long offset, long size, List<BitmapEntry> entries) throws CorruptImageException {
    claim(offset, size, Structure.BITMAP_DIRECTORY);
    for (BitmapEntry e : entries) {
      claim(e.tableOffset(), 8L * e.tableSize(), Structure.BITMAP_TABLE);
    }
  }

  private void claim(long offset, long bytes, Structure what) throws CorruptImageException {
    long first = offset >>> g.clusterBits;
    long end = clusterEnd(offset, bytes);
    for (Range r : taken) {
      if (first < r.end() && r.first() < end) {
        throw new CorruptImageException(
            image,
            what,
            offset,
            "at 0x"
                + Long.toHexString(offset)
                + " overlaps the "
                + r.what().text()
                + " at 0x"
                + Long.toHexString(r.at()));
      }
    }
    taken.add(new Range(first, end, what, offset));
  }
}
