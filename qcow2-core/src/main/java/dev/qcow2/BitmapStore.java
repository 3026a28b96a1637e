package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * Writes persistent bitmaps back at close, as qemu stores them (qcow2_store_persistent_dirty_
 * bitmaps): nothing in use is overwritten; new clusters are written and switched in by the header,
 * in this order, each step durable before the next:
 *
 * <ol>
 *   <li>the changed bitmap data clusters;
 *   <li>the refcounts of every new cluster (data, tables, directory);
 *   <li>the new bitmap tables;
 *   <li>the new bitmap directory, its entries no longer flagged in use;
 *   <li>the header, whose bitmaps extension names the new directory;
 *   <li>only then the release of the old directory, tables and replaced data clusters.
 * </ol>
 *
 * A crash before step 5 leaves the old directory, still flagged in use, and leaked clusters; never
 * a bitmap that claims to be consistent and is not.
 */
final class BitmapStore {
  private final Qcow2Image image;
  private final ImageWriter w;
  private final ClusterGeometry g;
  private final Storage storage;

  /** Clusters to release once the header no longer leads to them: first cluster, count. */
  private final List<long[]> frees = new ArrayList<>();

  BitmapStore(Qcow2Image image, ImageWriter w) {
    this.image = image;
    this.w = w;
    this.g = image.geometry();
    this.storage = image.storage();
  }

  /**
   * Flags every entry of the directory in use, as qemu does when it opens an image for writing
   * (update_ext_header_and_dir_in_place): the autoclear bit goes off while the directory is
   * rewritten in place, so that a torn write is ignored rather than trusted, then comes back.
   */
  static void markInUse(Qcow2Image image, long offset, long size, int count) throws IOException {
    Storage storage = image.storage();
    ByteBuffer dir = ByteBuffer.allocate((int) size);
    storage.readOrZero(dir, offset);
    int at = 0;
    for (int i = 0; i < count; i++) {
      dir.putInt(at + 12, dir.getInt(at + 12) | BitmapEntry.FLAG_IN_USE);
      int nameSize = dir.getShort(at + 18) & 0xffff;
      at += (24 + nameSize + 7) & ~7;
    }
    long autoclear = image.header().autoclearFeatures();
    image.updateHeader(
        new HeaderUpdate().autoclearFeatures(autoclear & ~FeatureBits.AUTOCLEAR_BITMAPS));
    storage.write(dir.clear(), offset);
    storage.force();
    image.updateHeader(new HeaderUpdate().autoclearFeatures(autoclear));
  }

  void store(
      Collection<DirtyBitmaps.Live> live,
      List<BitmapEntry> removed,
      long oldDirectory,
      long oldDirectorySize)
      throws IOException {
    List<BitmapEntry> entries = new ArrayList<>();
    List<long[]> tables = new ArrayList<>();
    for (DirtyBitmaps.Live l : live) {
      BitmapEntry e = l.entry;
      if (l.inconsistent) {
        entries.add(e);
        tables.add(null);
      } else if (!l.changed) {
        entries.add(e.withFlags(e.flags() & ~BitmapEntry.FLAG_IN_USE));
        tables.add(null);
      } else {
        long[] table = writeData(l);
        entries.add(e.withFlags(e.flags() & ~BitmapEntry.FLAG_IN_USE));
        tables.add(table);
      }
    }
    storage.force();
    for (int i = 0; i < entries.size(); i++) {
      long[] table = tables.get(i);
      if (table != null) {
        long offset = w.allocate(clusters(8L * table.length));
        entries.set(i, entries.get(i).withTable(offset, table.length));
      }
    }
    ByteBuffer dir = BitmapDirectory.encode(entries);
    long dirOffset = entries.isEmpty() ? 0 : w.allocate(clusters(dir.remaining()));
    w.writeBackAll();
    for (int i = 0; i < entries.size(); i++) {
      long[] table = tables.get(i);
      if (table != null) {
        ByteBuffer b = ByteBuffer.allocate(8 * table.length);
        b.asLongBuffer().put(table);
        storage.write(b, entries.get(i).tableOffset());
      }
    }
    storage.force();
    if (!entries.isEmpty()) {
      storage.write(dir.duplicate(), dirOffset);
      storage.force();
    }
    writeHeader(entries.size(), dir.remaining(), dirOffset);
    for (BitmapEntry e : removed) {
      freeAll(e);
    }
    if (oldDirectorySize > 0) {
      free(oldDirectory, oldDirectorySize);
    }
    for (long[] f : frees) {
      w.refcounts().free(f[0], f[1]);
    }
    w.writeBackAll();
  }

  /**
   * Writes the chunks that changed to new clusters and returns the new table; the clusters it no
   * longer names are queued for release.
   */
  private long[] writeData(DirtyBitmaps.Live l) throws IOException {
    BitmapEntry e = l.entry;
    long[] old = e.tableSize() == 0 ? new long[0] : BitmapTable.read(storage, e);
    int size = BitmapEntry.tableSizeFor(image.size(), e.granularityBits(), g.clusterBits);
    long[] table = new long[size];
    for (int k = 0; k < Math.max(size, old.length); k++) {
      long oldEntry = k < old.length ? old[k] : 0;
      long[] chunk = l.chunks.get(k);
      boolean keep = k < size && chunk == null && !l.cleared;
      if (keep) {
        BitmapTable.check(image.filename(), g, e, k, oldEntry);
        table[k] = oldEntry;
        continue;
      }
      freeData(oldEntry);
      if (k < size && chunk != null && !BitmapTable.isZero(chunk)) {
        long offset = w.allocate(1);
        storage.write(BitmapTable.bytes(chunk), offset);
        table[k] = offset;
      }
    }
    l.chunks.clear();
    if (e.tableSize() > 0) {
      free(e.tableOffset(), 8L * e.tableSize());
    }
    return table;
  }

  private void freeAll(BitmapEntry e) throws IOException {
    for (long entry : BitmapTable.read(storage, e)) {
      freeData(entry);
    }
    free(e.tableOffset(), 8L * e.tableSize());
  }

  private void freeData(long entry) {
    long offset = entry & BitmapTable.OFFSET_MASK;
    if (offset != 0 && (entry & BitmapTable.RESERVED_MASK) == 0 && g.isClusterAligned(offset)) {
      frees.add(new long[] {offset >>> g.clusterBits, 1});
    }
  }

  private void free(long offset, long bytes) {
    frees.add(new long[] {offset >>> g.clusterBits, clusters(bytes)});
  }

  private int clusters(long bytes) {
    return (int) ((bytes + g.clusterSize - 1) >>> g.clusterBits);
  }

  /**
   * Rewrites the header cluster with the bitmaps extension naming the new directory (or without it
   * when no bitmap is left) and the bitmaps autoclear bit to match, as qcow2_update_header does.
   */
  private void writeHeader(int count, long dirSize, long dirOffset) throws IOException {
    Header h = image.header();
    ByteBuffer fields = ByteBuffer.allocate(h.headerLength());
    storage.readOrZero(fields, 0);
    long autoclear = h.autoclearFeatures() & ~FeatureBits.AUTOCLEAR_BITMAPS;
    List<HeaderExtension> extensions = new ArrayList<>();
    for (HeaderExtension e : h.extensions()) {
      if (e.type() != HeaderExtension.BITMAPS) {
        extensions.add(e);
      }
    }
    if (count > 0) {
      autoclear |= FeatureBits.AUTOCLEAR_BITMAPS;
      extensions.add(
          new HeaderExtension(
              HeaderExtension.BITMAPS, 0, BitmapDirectory.extension(count, dirSize, dirOffset)));
    }
    Header.Field.AUTOCLEAR_FEATURES.put(fields, 0, autoclear);
    String backing = h.backingFileName();
    HeaderUpdate.rewriteCluster(
        storage,
        image.filename(),
        g.clusterSize,
        fields.clear(),
        extensions,
        backing == null || backing.isEmpty() ? null : backing);
  }
}
