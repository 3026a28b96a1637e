package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Creating, applying and deleting internal snapshots, the qemu way (block/qcow2-snapshot.c), on an
 * image open for writing and under its write lock.
 *
 * <p>A snapshot is a copy of the active L1 table plus one more reference to every L2 table and data
 * cluster it reaches; the active tables lose their COPIED flags, so the writer copies a shared
 * cluster before changing it. Every step keeps the order that leaves, after a crash, at worst
 * clusters with a refcount too high (leaks): new references are counted before they are written,
 * and counts drop only after the structure that held the reference is durably gone. Refcounts and
 * the COPIED flags that mirror them cannot change in one write, so each operation runs under the
 * dirty bit on version 3 images ({@link ImageWriter#beginFlagChange}); version 2 images, which have
 * no dirty bit, switch to a new state in one header write instead ({@link Version2SnapshotCommit}).
 */
final class InternalSnapshots {
  private final Qcow2Image image;
  private final ImageWriter writer;
  private final Refcounts refcounts;
  private final ClusterGeometry g;
  private final Storage storage;

  InternalSnapshots(Qcow2Image image) {
    this.image = image;
    this.writer = image.writer();
    this.refcounts = writer.refcounts();
    this.g = image.geometry();
    this.storage = image.storage();
  }

  // ---------------------------------------------------------------------------------------------
  // The three operations

  Snapshot create(String name) throws IOException {
    checkAllowed();
    byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
    if (nameBytes.length == 0 || nameBytes.length > 0xffff) {
      throw new IllegalArgumentException(
          image.filename() + ": a snapshot name must be 1 to 65535 bytes long");
    }
    List<Snapshot> existing = image.snapshots();
    if (existing.size() >= Header.MAX_SNAPSHOTS) {
      throw new ImageLimitException(
          image.filename(),
          Structure.SNAPSHOT_TABLE,
          image.header().snapshotsOffset(),
          "already holds " + existing.size() + " snapshots, the most qemu allows");
    }
    long nextId = 1;
    for (Snapshot s : existing) {
      try {
        nextId = Math.max(nextId, Long.parseLong(s.id()) + 1);
      } catch (NumberFormatException e) {
        // qemu counts only numeric ids too
      }
    }
    if (image.header().version() < 3) {
      return createVersion2(name, nextId, existing);
    }
    writer.beginFlagChange();
    // 1. A copy of the active L1 table, without COPIED flags (its tables are shared from now on).
    long[] l1 = image.l1();
    int l1Bytes = l1.length * 8;
    int l1Clusters = Math.max(1, (l1Bytes + g.clusterSize - 1) >>> g.clusterBits);
    long l1Copy = writer.allocateClusters(l1Clusters);
    ByteBuffer copy = ByteBuffer.allocate(l1Clusters << g.clusterBits);
    for (long e : l1) {
      copy.putLong(L1Entry.withCopied(e, false));
    }
    storage.write(copy.clear(), l1Copy);
    // 2. One more reference to everything the active tree reaches; COPIED flags follow.
    adjust(l1, +1);
    updateCopiedFlags();
    writer.resetCompressedPacking();
    writer.flush();
    // 3. The table with the new entry, at a new place; then the header points at it.
    Snapshot created = newSnapshot(name, nextId, l1Copy, l1.length);
    replaceTable(withEntry(readTable(), created), existing.size() + 1);
    writer.endFlagChange();
    return image.snapshots().get(existing.size());
  }

  void apply(String idOrName) throws IOException {
    checkAllowed();
    Snapshot s = find(idOrName);
    if (s.diskSize() >= 0 && s.diskSize() != image.size()) {
      throw new UnsupportedOperationException(
          image.filename()
              + ": snapshot '"
              + s.name()
              + "' has a disk of "
              + s.diskSize()
              + " bytes, not "
              + image.size()
              + ": applying it would resize the disk, which is not supported");
    }
    long[] snapshotL1 = readL1(s);
    long[] l1 = image.l1();
    if (snapshotL1.length > l1.length) {
      throw new CorruptImageException(
          image.filename(),
          Structure.SNAPSHOT_TABLE,
          s.l1TableOffset(),
          "snapshot '"
              + s.name()
              + "' has an L1 table of "
              + snapshotL1.length
              + " entries, more than the disk's "
              + l1.length);
    }
    if (image.header().version() < 3) {
      long[] l2 = new long[l1.length];
      for (int i = 0; i < snapshotL1.length; i++) {
        l2[i] = L1Entry.l2Offset(snapshotL1[i]);
        if (l2[i] != 0) {
          l2(l2[i], i); // a table that does not lie in the file is refused before anything changes
        }
      }
      new Version2SnapshotCommit(image)
          .commit(l2, image.snapshots(), image.header().snapshotsOffset());
      return;
    }
    writer.beginFlagChange();
    // 1. Count the snapshot's tree once more: it becomes the active one.
    adjust(snapshotL1, +1);
    // 2. The active L1 takes the snapshot's entries, durably, after those counts.
    long[] old = l1.clone();
    for (int i = 0; i < l1.length; i++) {
      l1[i] = i < snapshotL1.length ? L1Entry.withCopied(snapshotL1[i], false) : 0;
      writer.markL1Dirty(i);
    }
    writer.resetCompressedPacking();
    writer.flush();
    // 3. The old active tree is referenced no more: drop its counts, then set COPIED anew.
    adjust(old, -1);
    refcounts.applyFrees();
    updateCopiedFlags();
    writer.flush();
    writer.endFlagChange();
  }

  void delete(String idOrName) throws IOException {
    checkAllowed();
    Snapshot s = find(idOrName);
    List<Snapshot> existing = image.snapshots();
    int index = existing.indexOf(s);
    long[] snapshotL1 = readL1(s);
    byte[] old = readTable();
    int[] bounds = entryBounds(old, index);
    byte[] table = new byte[old.length - (bounds[1] - bounds[0])];
    System.arraycopy(old, 0, table, 0, bounds[0]);
    System.arraycopy(old, bounds[1], table, bounds[0], old.length - bounds[1]);
    if (image.header().version() < 3) {
      // What only the snapshot held is not counted by the new state: it is free.
      Version2SnapshotCommit commit = new Version2SnapshotCommit(image);
      long tableOffset = table.length == 0 ? 0 : commit.write(table);
      List<Snapshot> left = new ArrayList<>(existing);
      left.remove(index);
      commit.commit(activeL2(), left, tableOffset);
      return;
    }
    writer.beginFlagChange();
    // 1. The table without the entry; once the header points at it, the snapshot is gone.
    replaceTable(table, existing.size() - 1);
    // 2. Its tree loses one reference, and its L1 copy its clusters.
    adjust(snapshotL1, -1);
    long l1Clusters =
        Math.max(1, ((long) snapshotL1.length * 8 + g.clusterSize - 1) >>> g.clusterBits);
    refcounts.free(s.l1TableOffset() >>> g.clusterBits, l1Clusters);
    refcounts.applyFrees();
    // 3. What the active tree now holds alone regains COPIED.
    updateCopiedFlags();
    writer.flush();
    writer.endFlagChange();
  }

  /**
   * The version 2 way (see {@link Version2SnapshotCommit}): the snapshot's L1 table is a copy of
   * the active one without COPIED flags over the same L2 tables, and the active tree moves to
   * copies.
   */
  private Snapshot createVersion2(String name, long nextId, List<Snapshot> existing)
      throws IOException {
    Version2SnapshotCommit commit = new Version2SnapshotCommit(image);
    long[] l1 = image.l1();
    long[] copy = new long[l1.length];
    for (int i = 0; i < l1.length; i++) {
      copy[i] = L1Entry.withCopied(l1[i], false);
    }
    Snapshot created = newSnapshot(name, nextId, commit.write(copy), l1.length);
    byte[] table = withEntry(readTable(), created);
    List<Snapshot> all = new ArrayList<>(existing);
    all.add(created);
    commit.commit(activeL2(), all, commit.write(table));
    return image.snapshots().get(existing.size());
  }

  /** The L2 table offsets of the active L1 table, 0 where there is none. */
  private long[] activeL2() {
    long[] l1 = image.l1();
    long[] l2 = new long[l1.length];
    for (int i = 0; i < l1.length; i++) {
      l2[i] = L1Entry.l2Offset(l1[i]);
    }
    return l2;
  }

  // ---------------------------------------------------------------------------------------------
  // References and flags

  private void checkAllowed() throws IOException {
    if (image.hasExternalDataFile()) {
      throw new UnsupportedOperationException(
          image.filename() + ": internal snapshots are not supported with an external data file");
    }
  }

  Snapshot find(String idOrName) {
    List<Snapshot> found = SnapshotTable.byIdOrName(image.snapshots(), idOrName);
    if (found.isEmpty()) {
      throw new NoSuchSnapshotException(image.filename(), "'" + idOrName + "'");
    }
    return found.get(0);
  }

  /**
   * Adds {@code delta} (+1 or -1) to the refcount of every L2 table and data cluster that {@code
   * l1} reaches. Decrements are queued (see {@link Refcounts#free}).
   */
  private void adjust(long[] l1, int delta) throws IOException {
    int k = g.extendedL2 ? 2 : 1;
    for (int i = 0; i < l1.length; i++) {
      long l2Offset = L1Entry.l2Offset(l1[i]);
      if (l2Offset == 0) {
        continue;
      }
      long[] table = l2(l2Offset, i);
      for (int j = 0; j < g.l2Entries; j++) {
        long entry = table[k * j];
        if (L2Entry.isCompressed(entry)) {
          change(
              CompressedDescriptor.firstCluster(entry, g.clusterBits),
              CompressedDescriptor.clusterCount(entry, g.clusterBits),
              delta);
        } else {
          long host = L2Entry.hostOffset(entry);
          if (host != 0) {
            change(host >>> g.clusterBits, 1, delta);
          }
        }
      }
      change(l2Offset >>> g.clusterBits, 1, delta);
    }
  }

  private void change(long first, long count, int delta) throws IOException {
    if (delta > 0) {
      refcounts.increment(first, count, 1);
    } else {
      refcounts.free(first, count);
    }
  }

  /**
   * Sets COPIED exactly where the active tree's clusters have refcount 1, as qemu's
   * update_snapshot_refcount(addend 0) does. Tables shared with a snapshot change only in flags,
   * which are right for both.
   */
  private void updateCopiedFlags() throws IOException {
    long[] l1 = image.l1();
    int k = g.extendedL2 ? 2 : 1;
    for (int i = 0; i < l1.length; i++) {
      long l2Offset = L1Entry.l2Offset(l1[i]);
      if (l2Offset == 0) {
        continue;
      }
      long[] table = l2(l2Offset, i);
      boolean changed = false;
      for (int j = 0; j < g.l2Entries; j++) {
        long entry = table[k * j];
        long host = L2Entry.plainHostOffset(entry);
        boolean want = host > 0 && refcounts.get(host >>> g.clusterBits) == 1;
        long updated = L2Entry.withCopied(entry, want);
        if (updated != entry) {
          table[k * j] = updated;
          changed = true;
        }
      }
      if (changed) {
        image.l2Cache().markDirty(l2Offset);
      }
      boolean want = refcounts.get(l2Offset >>> g.clusterBits) == 1;
      long updated = L1Entry.withCopied(l1[i], want);
      if (updated != l1[i]) {
        l1[i] = updated;
        writer.markL1Dirty(i);
      }
    }
  }

  private long[] l2(long offset, int l1Index) throws IOException {
    if (!g.isClusterAligned(offset) || offset > storage.size() - g.clusterSize) {
      throw new CorruptImageException(
          image.filename(),
          Structure.L2_TABLE,
          offset,
          "of L1 index " + l1Index + " is not a cluster inside the file");
    }
    return image.l2Cache().get(offset);
  }

  private long[] readL1(Snapshot s) throws IOException {
    long bytes = (long) s.l1Size() * 8;
    if (s.l1Size() < 0
        || s.l1Size() > QemuLimits.MAX_L1_ENTRIES
        || !g.isClusterAligned(s.l1TableOffset())
        || s.l1TableOffset() + bytes > storage.size()) {
      throw new CorruptImageException(
          image.filename(),
          Structure.SNAPSHOT_TABLE,
          s.l1TableOffset(),
          "snapshot '"
              + s.name()
              + "' has an L1 table of "
              + s.l1Size()
              + " entries that does not lie in the file");
    }
    ByteBuffer b = ByteBuffer.allocate((int) bytes);
    storage.readOrZero(b, s.l1TableOffset());
    long[] l1 = new long[s.l1Size()];
    b.clear().asLongBuffer().get(l1);
    return l1;
  }

  // ---------------------------------------------------------------------------------------------
  // The table

  /**
   * The table's bytes as they are, so entries we do not change keep every byte (extra data too).
   */
  private byte[] readTable() throws IOException {
    List<Snapshot> list = image.snapshots();
    if (list.isEmpty()) {
      return new byte[0];
    }
    long start = image.header().snapshotsOffset();
    int length = 0;
    ByteBuffer fixed = ByteBuffer.allocate(40);
    for (int i = 0; i < list.size(); i++) {
      fixed.clear();
      storage.readOrZero(fixed, start + length);
      int variable =
          fixed.getInt(36) + (fixed.getShort(12) & 0xffff) + (fixed.getShort(14) & 0xffff);
      length += 40 + ((variable + 7) & ~7);
    }
    ByteBuffer b = ByteBuffer.allocate(length);
    storage.readOrZero(b, start);
    return b.array();
  }

  private Snapshot newSnapshot(String name, long id, long l1Offset, int l1Size) {
    long now = System.currentTimeMillis();
    long seconds = now / 1000;
    long nanos = (now % 1000) * 1_000_000L;
    // icount 0, as qemu-img writes it (qemu records -1 only for VMs without record/replay).
    return new Snapshot(
        Long.toString(id), name, 0, seconds, nanos, 0, 0, image.size(), l1Offset, l1Size);
  }

  private static byte[] withEntry(byte[] table, Snapshot s) {
    byte[] entry = entry(s);
    byte[] longer = Arrays.copyOf(table, table.length + entry.length);
    System.arraycopy(entry, 0, longer, table.length, entry.length);
    return longer;
  }

  /** [from, to) of entry {@code index} in the table's bytes. */
  private static int[] entryBounds(byte[] table, int index) {
    ByteBuffer b = ByteBuffer.wrap(table);
    int at = 0;
    for (int i = 0; ; i++) {
      int variable =
          b.getInt(at + 36) + (b.getShort(at + 12) & 0xffff) + (b.getShort(at + 14) & 0xffff);
      int next = at + 40 + ((variable + 7) & ~7);
      if (i == index) {
        return new int[] {at, next};
      }
      at = next;
    }
  }

  /** One entry as qemu writes it: 24 bytes of extra data (VM state size, disk size, icount). */
  private static byte[] entry(Snapshot s) {
    byte[] id = s.id().getBytes(StandardCharsets.UTF_8);
    byte[] name = s.name().getBytes(StandardCharsets.UTF_8);
    int variable = 24 + id.length + name.length;
    ByteBuffer b = ByteBuffer.allocate(40 + ((variable + 7) & ~7));
    b.putLong(s.l1TableOffset())
        .putInt(s.l1Size())
        .putShort((short) id.length)
        .putShort((short) name.length)
        .putInt((int) s.dateSeconds())
        .putInt((int) s.dateNanos())
        .putLong(s.vmClockNanos())
        .putInt((int) Math.min(s.vmStateSize(), 0xffffffffL))
        .putInt(24)
        .putLong(s.vmStateSize())
        .putLong(s.diskSize())
        .putLong(s.icount())
        .put(id)
        .put(name);
    return b.array();
  }

  /**
   * Writes {@code table} to new clusters, makes everything durable, then switches the header's
   * nb_snapshots and snapshots_offset in one write; the old table's clusters are freed after that.
   */
  private void replaceTable(byte[] table, int count) throws IOException {
    Header h = image.header();
    long oldOffset = h.snapshotsOffset();
    long oldClusters =
        image.snapshots().isEmpty()
            ? 0
            : Math.max(1, (readTable().length + g.clusterSize - 1) >>> g.clusterBits);
    long offset = 0;
    if (count > 0) {
      int clusters = Math.max(1, (table.length + g.clusterSize - 1) >>> g.clusterBits);
      offset = writer.allocateClusters(clusters);
      ByteBuffer b = ByteBuffer.allocate(clusters << g.clusterBits);
      b.put(table).clear();
      storage.write(b, offset);
    }
    writer.flush();
    storage.force();
    image.updateHeader(new HeaderUpdate().snapshotTable(count, offset));
    image.snapshotsChanged();
    if (oldClusters > 0) {
      refcounts.free(oldOffset >>> g.clusterBits, oldClusters);
      writer.flush();
    }
  }
}
