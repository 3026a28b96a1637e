package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * A snapshot made, applied or deleted in a version 2 image, switched in by one header write.
 *
 * <p>Refcounts and the COPIED flags that mirror them live in different clusters, and qemu-img check
 * counts a flag that disagrees with its refcount as corruption in either direction; so no order of
 * in-place writes survives a power cut between them. Version 3 images are marked dirty for the
 * operation (see {@link ImageWriter#beginFlagChange}), which version 2 lacks. Here the new state is
 * built beside the old one instead, in clusters past everything the old one uses: a new active L1
 * table over copies of its L2 tables, the new snapshot table, and refcount structures rebuilt from
 * the new state's references (qemu's rebuild_refcount_structure). Its L1 table, refcount table and
 * snapshot table are then switched by one write of the header's first sector. A cut before that
 * write leaves the old state untouched; after it, the new one whole. The old state's structures are
 * not counted by the new refcounts: they are free, not leaked.
 *
 * <p>The price is a copy of every active L2 table and one walk over all metadata per operation,
 * what check costs; version 3 images take the cheaper in-place path.
 */
final class Version2SnapshotCommit {
  private final Qcow2Image image;
  private final Storage storage;
  private final ClusterGeometry g;
  private final int k;

  /** The next free cluster: everything new goes past all the old state uses. */
  private long next;

  Version2SnapshotCommit(Qcow2Image image) throws IOException {
    this.image = image;
    this.storage = image.storage();
    this.g = image.geometry();
    this.k = g.extendedL2 ? 2 : 1;
    image.writer().flush();
    long fileEnd = (storage.size() + g.clusterSize - 1) >>> g.clusterBits;
    this.next = Math.max(fileEnd, image.writer().refcounts().endCluster());
  }

  /** New clusters for {@code bytes}, past everything else. */
  long place(long bytes) {
    long clusters = Math.max(1, (bytes + g.clusterSize - 1) >>> g.clusterBits);
    long at = next << g.clusterBits;
    next += clusters;
    return at;
  }

  /** Writes {@code table} (padded to whole clusters) at new clusters and returns their offset. */
  long write(long[] table) throws IOException {
    long at = place((long) table.length * 8);
    writeAt(table, at);
    return at;
  }

  /** Writes {@code bytes} (padded to whole clusters) at new clusters and returns their offset. */
  long write(byte[] bytes) throws IOException {
    long at = place(bytes.length);
    ByteBuffer b = ByteBuffer.allocate((int) padded(bytes.length));
    storage.write(b.put(bytes).clear(), at);
    return at;
  }

  private long padded(long bytes) {
    return Math.max(1, (bytes + g.clusterSize - 1) >>> g.clusterBits) << g.clusterBits;
  }

  private void writeAt(long[] table, long at) throws IOException {
    ByteBuffer b = ByteBuffer.allocate((int) padded((long) table.length * 8));
    b.asLongBuffer().put(table);
    storage.write(b, at);
  }

  /**
   * Makes {@code activeL2} (the L2 offsets of the new active L1 table, 0 for none) and {@code
   * snapshots} (with their table already written at {@code tableOffset}, or none) the image's
   * state, in one header write.
   */
  void commit(long[] activeL2, List<Snapshot> snapshots, long tableOffset) throws IOException {
    // 1. The active tree, copied: every L2 table to a cluster of its own, under a new L1 table.
    long[] l1 = new long[activeL2.length];
    for (int i = 0; i < l1.length; i++) {
      if (activeL2[i] != 0) {
        long[] table = image.l2Cache().get(activeL2[i]).clone();
        l1[i] = write(table);
      }
    }
    long l1Offset = write(l1);
    storage.force();
    // 2. The new state's references; its refcount structures go after everything else.
    HeaderUpdate update =
        new HeaderUpdate()
            .l1Table(l1.length, l1Offset)
            .snapshotTable(snapshots.size(), snapshots.isEmpty() ? 0 : tableOffset);
    Header h = update.applyTo(image.header());
    ReferenceWalk refs =
        ReferenceWalk.count(
            image.filename(), storage, h, g, l1, snapshots, null, false, new long[0]);
    // 3. COPIED where the new state holds a cluster once; flags change no count.
    for (int i = 0; i < l1.length; i++) {
      long l2Offset = l1[i];
      if (l2Offset == 0) {
        continue;
      }
      long[] table = ClusterMap.readTable(storage, l2Offset, g.clusterSize / 8);
      for (int j = 0; j < g.l2Entries; j++) {
        long host = L2Entry.plainHostOffset(table[k * j]);
        boolean once = host > 0 && refs.references(host >>> g.clusterBits) == 1;
        table[k * j] = L2Entry.withCopied(table[k * j], once);
      }
      writeAt(table, l2Offset);
      l1[i] = L1Entry.withCopied(l2Offset, refs.references(l2Offset >>> g.clusterBits) == 1);
    }
    writeAt(l1, l1Offset);
    long[] refcountTable =
        Refcounts.writeRebuilt(image.filename(), storage, g, refs, h.refcountOrder());
    // 4. Durable, then the switch: the header's fields up to 72 bytes lie in its first sector.
    storage.force();
    image.updateHeader(update.refcountTable(refcountTable[0], (int) refcountTable[1]));
    image.committed(l1, l1Offset);
  }
}
