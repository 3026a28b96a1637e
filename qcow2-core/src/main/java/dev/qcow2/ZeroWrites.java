package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Zero writes, discards and emptying (QEMU's qcow2_cluster_zeroize and qcow2_cluster_discard): the
 * zero flag or zero subcluster bits where the image has them, real zeros elsewhere. Part of {@link
 * ImageWriter}, under its rules.
 */
final class ZeroWrites {
  private final ImageWriter w;
  private final Qcow2Image image;
  private final ClusterGeometry g;

  ZeroWrites(ImageWriter w) {
    this.w = w;
    this.image = w.image;
    this.g = w.g;
  }

  /** Makes [guest, guest + length) read as zeros. */
  void writeZeroes(long guest, long length) throws IOException {
    w.beforeChange();
    if (w.rawData) {
      // The raw data file must read zeros there too: write them.
      writeZeroBytes(guest, length);
      w.flushIfCacheFull();
      return;
    }
    long end = guest + length;
    long at = guest;
    while (at < end) {
      int inCluster = g.offsetInCluster(at);
      long n = Math.min(end - at, g.clusterSize - inCluster);
      if (inCluster == 0 && n == g.clusterSize && w.v3) {
        zeroCluster(at);
      } else if (g.extendedL2 && coversSubclusters(inCluster, (int) n)) {
        zeroSubclusters(at, (int) n);
      } else {
        writeZeroBytes(at, (int) n);
      }
      at += n;
    }
    w.flushIfCacheFull();
  }

  private boolean coversSubclusters(int inCluster, int n) {
    int mask = g.subclusterSize - 1;
    return (inCluster & mask) == 0 && (n & mask) == 0;
  }

  private void writeZeroBytes(long guest, long n) throws IOException {
    if (!w.v3 && image.backing() == null && readsAsUnallocated(guest)) {
      return; // Nothing below, nothing here: it already reads as zeros.
    }
    ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(n, 1 << 20));
    for (long done = 0; done < n; done += zeros.capacity()) {
      w.write(zeros.clear().limit((int) Math.min(zeros.capacity(), n - done)), guest + done);
    }
  }

  private boolean readsAsUnallocated(long guest) throws IOException {
    ClusterMap.Run run = image.clusterMap().lookup(guest, 1);
    return run.kind() == ClusterMap.UNALLOCATED;
  }

  /** A whole cluster reads as zeros (version 3): the zero flag, and its host cluster let go. */
  private void zeroCluster(long guest) throws IOException {
    long[] table = w.l2ForWrite(g.l1Index(guest));
    int l2Index = g.l2Index(guest);
    if (g.extendedL2) {
      w.release(table[2 * l2Index]);
      table[2 * l2Index] = L2Entry.UNALLOCATED;
      table[2 * l2Index + 1] = SubclusterBitmap.ALL_ZERO;
    } else {
      w.release(table[l2Index]);
      table[l2Index] = L2Entry.ZERO;
    }
  }

  /** Whole subclusters read as zeros: their zero bits set, their allocation bits cleared. */
  private void zeroSubclusters(long guest, int n) throws IOException {
    long[] table = w.l2ForWrite(g.l1Index(guest));
    int l2Index = g.l2Index(guest);
    int inCluster = g.offsetInCluster(guest);
    long entry = table[2 * l2Index];
    if (L2Entry.isCompressed(entry)
        || (L2Entry.hostOffset(entry) != 0 && !L2Entry.isCopied(entry))) {
      // Compressed or shared: take a copy of our own first, then zero within it.
      writeZeroBytes(guest, n);
      return;
    }
    int first = inCluster >>> g.subclusterBits;
    int last = (inCluster + n - 1) >>> g.subclusterBits;
    long touched = SubclusterBitmap.range(first, last);
    long bitmap = table[2 * l2Index + 1];
    table[2 * l2Index + 1] =
        SubclusterBitmap.of(
            SubclusterBitmap.allocated(bitmap) & ~touched, SubclusterBitmap.zero(bitmap) | touched);
  }

  /**
   * Discards whole clusters in [guest, guest + length); partial clusters are left alone, as qemu
   * does. Afterwards the clusters read as zeros. A version 2 image with a backing file has no zero
   * flag to hide the backing data with, so, like qemu, the discard does nothing there rather than
   * expose stale backing data.
   */
  void discard(long guest, long length) throws IOException {
    if (!w.v3 && image.backing() != null) {
      return;
    }
    w.beforeChange();
    if (w.rawData) {
      // Discarded clusters of a raw data file become zeros in it, which is what they read as.
      long first = (guest + g.clusterSize - 1) & ~((long) g.clusterSize - 1);
      long end = (guest + length) & ~((long) g.clusterSize - 1);
      if (guest + length == image.size()) {
        end = guest + length;
      }
      if (end > first) {
        writeZeroBytes(first, end - first);
      }
      w.flushIfCacheFull();
      return;
    }
    long first = (guest + g.clusterSize - 1) & ~((long) g.clusterSize - 1);
    long end = (guest + length) & ~((long) g.clusterSize - 1);
    if (guest + length == image.size()) {
      end = guest + length; // the last, partial cluster of the disk may be discarded whole
    }
    for (long at = first; at < end; at += g.clusterSize) {
      discardCluster(at);
    }
    w.flushIfCacheFull();
  }

  private void discardCluster(long guest) throws IOException {
    int l1Index = g.l1Index(guest);
    long[] l1 = image.l1();
    if (L1Entry.l2Offset(l1[l1Index]) == 0 && image.backing() == null) {
      return; // Nothing allocated and nothing below.
    }
    if (L1Entry.l2Offset(l1[l1Index]) == 0 && !w.v3) {
      return; // Unallocated in version 2 already reads zeros (there is no backing file).
    }
    long[] table = w.l2ForWrite(l1Index);
    int l2Index = g.l2Index(guest);
    int k = g.extendedL2 ? 2 : 1;
    long entry = table[k * l2Index];
    boolean allocated = L2Entry.holdsHostSpace(entry);
    w.release(entry);
    if (image.backing() != null || allocated) {
      if (g.extendedL2) {
        table[2 * l2Index] = L2Entry.UNALLOCATED;
        table[2 * l2Index + 1] = SubclusterBitmap.ALL_ZERO;
      } else {
        table[l2Index] = w.v3 ? L2Entry.ZERO : L2Entry.UNALLOCATED;
      }
    } else {
      table[k * l2Index] = 0;
      if (g.extendedL2) {
        table[2 * l2Index + 1] = 0;
      }
    }
  }

  /**
   * Makes every cluster unallocated, so the disk reads its backing file (or zeros) everywhere, as
   * qemu's make_empty does after a commit: the L2 tables stay, holding only empty entries.
   */
  void makeEmpty() throws IOException {
    if (w.rawData) {
      throw new UnsupportedOperationException(
          image.filename() + ": an image with a raw data file cannot be emptied");
    }
    w.beforeChange();
    long[] l1 = image.l1();
    int k = g.extendedL2 ? 2 : 1;
    for (int i = 0; i < l1.length; i++) {
      if (L1Entry.l2Offset(l1[i]) == 0) {
        continue;
      }
      long[] table = w.l2ForWrite(i);
      for (int j = 0; j < g.l2Entries; j++) {
        w.release(table[k * j]);
        table[k * j] = 0;
        if (g.extendedL2) {
          table[2 * j + 1] = 0;
        }
      }
      w.flushIfCacheFull();
    }
  }
}
