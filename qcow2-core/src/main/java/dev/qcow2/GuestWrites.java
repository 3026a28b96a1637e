package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Guest data writes (the write half of QEMU's qcow2-cluster.c): finds or allocates the clusters,
 * copies what a partial write does not cover (whole clusters, or only the touched subclusters with
 * extended L2), and updates the L2 entries. Part of {@link ImageWriter}, under its rules.
 */
final class GuestWrites {
  private final ImageWriter w;
  private final Qcow2Image image;
  private final ClusterGeometry g;

  /** Guest content of one cluster, for copy-on-write. */
  private final ByteBuffer clusterBuffer;

  GuestWrites(ImageWriter w) {
    this.w = w;
    this.image = w.image;
    this.g = w.g;
    this.clusterBuffer = ByteBuffer.allocateDirect(g.clusterSize);
  }

  /** Writes {@code src} at {@code guestOffset}; the range lies inside the disk. */
  void write(ByteBuffer src, long guestOffset) throws IOException {
    if (w.encryption != null) {
      w.encryption.checkWritable(); // refused before anything changes
    }
    w.beforeChange();
    long at = guestOffset;
    while (src.hasRemaining()) {
      int inCluster = g.offsetInCluster(at);
      if (inCluster == 0 && src.remaining() >= g.clusterSize) {
        at += writeWholeClusters(src, at);
        continue;
      }
      int n = Math.min(src.remaining(), g.clusterSize - inCluster);
      ByteBuffer part = src.slice().limit(n);
      if (w.encryption != null) {
        // Sectors are encrypted whole: the cluster is rewritten with what it holds around the data.
        writeInCluster(wholeCluster(part, at - inCluster, inCluster), at - inCluster);
      } else {
        writeInCluster(part, at);
      }
      src.position(src.position() + n);
      at += n;
    }
    w.flushIfCacheFull();
  }

  /**
   * Writes a run of whole clusters within one L2 table with one write: either clusters we own that
   * lie back to back in the file (overwritten in place), or clusters that need new space (given one
   * contiguous allocation). Nothing needs copying, since every byte is overwritten.
   *
   * @return the number of guest bytes written (whole clusters, at least one)
   */
  private long writeWholeClusters(ByteBuffer src, long guest) throws IOException {
    int l1Index = g.l1Index(guest);
    long[] table = w.l2ForWrite(l1Index);
    int first = g.l2Index(guest);
    int k = g.extendedL2 ? 2 : 1;
    int max = Math.min(src.remaining() >>> g.clusterBits, g.l2Entries - first);
    long firstHost = ownedHost(table[k * first]);
    if (firstHost >= 0) {
      image.clusterMap().checkedHost(firstHost, l1Index, first);
    }
    int n = 1;
    if (firstHost >= 0) {
      // Back to back after a valid first cluster, and within the file, since the file grows by
      // whole clusters.
      while (n < max
          && ownedHost(table[k * (first + n)]) == firstHost + ((long) n << g.clusterBits)) {
        image.clusterMap().checkedHost(firstHost + ((long) n << g.clusterBits), l1Index, first + n);
        n++;
      }
    } else {
      while (n < max && ownedHost(table[k * (first + n)]) < 0) {
        n++;
      }
    }
    int bytes = n << g.clusterBits;
    ByteBuffer part = src.slice().limit(bytes);
    long host = firstHost >= 0 ? firstHost : w.dataHost(guest, n);
    w.writeData(part, host);
    for (int i = 0; i < n; i++) {
      int index = k * (first + i);
      if (firstHost < 0) {
        w.release(table[index]);
      }
      table[index] = L2Entry.owned(host + ((long) i << g.clusterBits));
      if (g.extendedL2) {
        table[index + 1] = SubclusterBitmap.ALL_ALLOCATED;
      }
    }
    src.position(src.position() + bytes);
    return bytes;
  }

  /**
   * The host offset of a cluster we may overwrite in place (ours alone, plain), or -1. In an
   * external data file offset 0 is a real cluster, told from an unallocated one by COPIED.
   */
  private long ownedHost(long entry) {
    return L2Entry.isOwned(entry, w.external) ? L2Entry.hostOffset(entry) : -1;
  }

  private void writeInCluster(ByteBuffer data, long guest) throws IOException {
    int l1Index = g.l1Index(guest);
    long[] table = w.l2ForWrite(l1Index);
    int l2Index = g.l2Index(guest);
    int inCluster = g.offsetInCluster(guest);
    long clusterStart = guest - inCluster;
    if (g.extendedL2) {
      writeSubclusters(table, l2Index, data, guest);
      return;
    }
    long entry = table[l2Index];
    long host = L2Entry.hostOffset(entry);
    boolean owned = L2Entry.isOwned(entry, w.external);
    if (owned) {
      image.clusterMap().checkedHost(host, l1Index, l2Index);
    }
    if (owned && !L2Entry.hasZeroFlag(entry)) {
      w.writeData(data, host + inCluster);
      return;
    }
    // A new cluster (or the zeroed one we own) gets the cluster's whole content.
    ByteBuffer content;
    long target = owned ? host : -1;
    if (!owned
        && !w.external
        && readsZero(entry, clusterStart)
        && w.refcounts.nextIsPast(w.storage.size())) {
      long fileEnd = w.storage.size();
      target = w.allocate(1);
      if (target >= fileEnd) {
        // Past the end of the file the rest of the cluster is a hole: it reads zeros unwritten.
        w.writeData(data, target + inCluster);
        w.release(entry);
        table[l2Index] = L2Entry.owned(target);
        return;
      }
    }
    if (inCluster == 0 && data.remaining() == g.clusterSize) {
      content = data;
    } else {
      content = currentContent(clusterStart, g.clusterSize);
      content.position(inCluster);
      content.put(data);
      content.rewind();
    }
    if (target < 0) {
      target = w.dataHost(clusterStart, 1);
    }
    w.writeData(content, target);
    if (!owned) {
      w.release(entry);
    }
    table[l2Index] = L2Entry.owned(target);
  }

  /**
   * A write into a cluster of an extended L2 table: only the subclusters it touches are allocated
   * and filled; the others keep their state (unallocated ones still read from below).
   */
  private void writeSubclusters(long[] table, int l2Index, ByteBuffer data, long guest)
      throws IOException {
    int inCluster = g.offsetInCluster(guest);
    long clusterStart = guest - inCluster;
    int first = inCluster >>> g.subclusterBits;
    int last = (inCluster + data.remaining() - 1) >>> g.subclusterBits;
    long touched = SubclusterBitmap.range(first, last);
    long entry = table[2 * l2Index];
    long bitmap = table[2 * l2Index + 1];
    long host = L2Entry.hostOffset(entry);
    boolean compressed = L2Entry.isCompressed(entry);
    boolean owned = L2Entry.isOwned(entry, w.external);
    if (owned) {
      image.clusterMap().checkedHost(host, g.l1Index(guest), l2Index);
    }

    if (!compressed && (owned || (host == 0 && !L2Entry.isCopied(entry)))) {
      // Fill only the touched subclusters, from what they read as now, then add the data.
      int from = first << g.subclusterBits;
      int to = (last + 1) << g.subclusterBits;
      ByteBuffer content;
      if (from == inCluster && to == inCluster + data.remaining()) {
        content = data;
      } else {
        content = currentContent(clusterStart + from, to - from);
        content.position(inCluster - from);
        content.put(data);
        content.rewind();
      }
      long target = owned ? host : w.dataHost(clusterStart, 1);
      w.writeData(content, target + from);
      table[2 * l2Index] = L2Entry.owned(target);
      table[2 * l2Index + 1] =
          SubclusterBitmap.of(
              SubclusterBitmap.allocated(bitmap) | touched,
              SubclusterBitmap.zero(bitmap) & ~touched);
      return;
    }
    // A shared or compressed cluster: copy all of it into a cluster of our own.
    ByteBuffer content = currentContent(clusterStart, g.clusterSize);
    content.position(inCluster);
    content.put(data);
    content.rewind();
    long target = w.dataHost(clusterStart, 1);
    w.writeData(content, target);
    w.release(entry);
    table[2 * l2Index] = L2Entry.owned(target);
    table[2 * l2Index + 1] = SubclusterBitmap.ALL_ALLOCATED;
  }

  /**
   * Whether a cluster whose L2 entry is {@code entry} reads as zeros: a zero cluster, or an
   * unallocated one with nothing below it.
   */
  private boolean readsZero(long entry, long clusterStart) {
    if (L2Entry.holdsHostSpace(entry)) {
      return false;
    }
    if (!g.extendedL2 && L2Entry.hasZeroFlag(entry)) {
      return true;
    }
    DiskImage below = image.backing();
    return below == null || clusterStart >= below.size();
  }

  /**
   * The cluster at {@code clusterStart} as the guest reads it, with {@code data} put in at {@code
   * inCluster}; past the end of the disk it holds zeros.
   */
  private ByteBuffer wholeCluster(ByteBuffer data, long clusterStart, int inCluster)
      throws IOException {
    ByteBuffer b = ByteBuffer.allocate(g.clusterSize);
    int inDisk = (int) Math.min(g.clusterSize, image.size() - clusterStart);
    image.reader().read(b.slice(0, inDisk), clusterStart);
    b.put(inCluster, data, data.position(), data.remaining());
    return b;
  }

  /** What the guest currently reads at [guest, guest + length), in the shared cluster buffer. */
  private ByteBuffer currentContent(long guest, int length) throws IOException {
    ByteBuffer b = clusterBuffer.clear().limit(length);
    image.reader().read(b, guest);
    return b.flip();
  }
}
