package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.TreeSet;

/**
 * Changes to a writable image: the state its parts share (the L2 tables being changed, host cluster
 * allocation and release, the dirty bit) and the write-back. The parts, one concern each: {@link
 * GuestWrites} (data writes, QEMU's qcow2-cluster.c), {@link ZeroWrites} (zero writes and
 * discards), {@link CompressedWrites}, {@link Resizer} and {@link Preallocator}. Every change is
 * made in memory and written back by {@link #flush} in the order that keeps the image consistent
 * after a crash at any moment:
 *
 * <ol>
 *   <li>guest data, then a flush: no table may point to data that is not on disk;
 *   <li>refcount blocks, flush, new refcount table entries, flush: a cluster is counted before
 *       anything refers to it;
 *   <li>L2 tables, flush, then L1 entries, flush: a table is on disk before its parent points to
 *       it;
 *   <li>only then the refcount decrements of clusters that lost their last reference.
 * </ol>
 *
 * A crash between any two steps leaves clusters whose refcount is too high (leaks), never one that
 * is too low. Not thread-safe: the image calls it under its write lock.
 */
final class ImageWriter {
  // The state the parts below share (package-private for them).
  final Qcow2Image image;
  final Storage storage;

  /** Where guest data goes: the external data file, or the image file. */
  final Storage data;

  /** Guest data lives in an external data file at its guest offset, not refcounted. */
  final boolean external;

  /** The external data file must stay a valid raw image: zeros are written, never flagged. */
  final boolean rawData;

  final ClusterGeometry g;
  final L2Cache cache;
  final Refcounts refcounts;
  final boolean v3;

  /** L1 entries changed in memory, written back by {@link #flush}. */
  final TreeSet<Integer> dirtyL1 = new TreeSet<>();

  // The parts, one concern each.
  private final GuestWrites guestWrites;
  private final ZeroWrites zeroWrites;
  private final CompressedWrites compressedWrites;

  /** The image's encryption, or null: guest data is encrypted on its way to the file. */
  final ImageEncryption encryption;

  private final Resizer resizer;
  private final Preallocator preallocator;

  private boolean dataWritten;

  /**
   * With lazy refcounts the refcount blocks reach the file only at close; the dirty bit, set before
   * the first change, tells the next writer to rebuild them if we never get there.
   */
  private final boolean lazy;

  private boolean dirtyBitSet;

  /** The dirty bit is on disk for a refcount-and-flag change (see {@link #beginFlagChange}). */
  private boolean flagChangeBit;

  /** A refcount-and-flag change did not end: the bit stays for the next open to repair. */
  private boolean flagChangeFailed;

  ImageWriter(Qcow2Image image, Refcounts refcounts) {
    this.image = image;
    this.storage = image.storage();
    this.data = image.dataStorage();
    this.external = image.hasExternalDataFile();
    this.rawData =
        external && (image.header().autoclearFeatures() & FeatureBits.AUTOCLEAR_DATA_FILE_RAW) != 0;
    this.g = image.geometry();
    this.cache = image.l2Cache();
    this.refcounts = refcounts;
    this.v3 = image.header().version() >= 3;
    this.lazy = image.header().hasLazyRefcounts();
    this.guestWrites = new GuestWrites(this);
    this.zeroWrites = new ZeroWrites(this);
    this.compressedWrites = new CompressedWrites(this);
    this.resizer = new Resizer(this);
    this.preallocator = new Preallocator(this);
    this.encryption = image.reader().encryption;
  }

  /**
   * Called before every change: with lazy refcounts, sets the dirty bit once and makes it durable.
   */
  void beforeChange() throws IOException {
    if (lazy && !dirtyBitSet) {
      writeIncompatibleFeatures(image.header().incompatibleFeatures() | FeatureBits.INCOMPAT_DIRTY);
      dirtyBitSet = true;
    }
  }

  /**
   * Before a change whose refcounts and COPIED flags reach the disk in separate writes (a snapshot
   * made, applied or deleted). qemu-img check counts a flag that disagrees with its refcount as
   * corruption in either direction, so no order of those writes survives a crash between them; the
   * dirty bit does: qemu rebuilds the refcounts and flags of a dirty image when it opens it for
   * writing, and so does {@link ImageOpener}. The bit is durable, after everything before it,
   * before the change starts. Version 2 has no dirty bit: there the change is switched in by one
   * header write instead ({@link Version2SnapshotCommit}).
   */
  void beginFlagChange() throws IOException {
    if (flagChangeBit) {
      flagChangeFailed = true; // the last one stopped half-way: its state is not known to be whole
    }
    beforeChange();
    flush();
    if (v3 && !dirtyBitSet && !flagChangeBit) {
      writeIncompatibleFeatures(image.header().incompatibleFeatures() | FeatureBits.INCOMPAT_DIRTY);
      flagChangeBit = true;
    }
  }

  /**
   * After the change: everything durable, refcounts included, then the dirty bit cleared (with lazy
   * refcounts it stays until close, as it was).
   */
  void endFlagChange() throws IOException {
    if (flagChangeBit && !flagChangeFailed) {
      writeBack(true);
      writeIncompatibleFeatures(
          image.header().incompatibleFeatures() & ~FeatureBits.INCOMPAT_DIRTY);
      flagChangeBit = false;
    }
  }

  private void writeIncompatibleFeatures(long bits) throws IOException {
    image.updateHeader(new HeaderUpdate().incompatibleFeatures(bits));
  }

  // ---------------------------------------------------------------------------------------------
  // For internal snapshots (InternalSnapshots works on the same state, under the image's lock)

  Refcounts refcounts() {
    return refcounts;
  }

  /** Clusters for metadata, counted once; the file is known to reach past them. */
  long allocateClusters(int count) throws IOException {
    beforeChange();
    return allocate(count);
  }

  void markL1Dirty(int index) {
    dirtyL1.add(index);
  }

  /** Starts compressed packing in a new cluster: the old one may be shared after a snapshot. */
  void resetCompressedPacking() {
    compressedWrites.resetPacking();
  }

  // ---------------------------------------------------------------------------------------------
  // L2 tables

  /**
   * The L2 table for {@code l1Index}, ready to be changed: allocated if missing, copied if shared
   * with a snapshot (its L1 entry lacks COPIED).
   */
  long[] l2ForWrite(int l1Index) throws IOException {
    long[] l1 = image.l1();
    long entry = l1[l1Index];
    long offset = L1Entry.l2Offset(entry);
    if (offset != 0 && L1Entry.isCopied(entry)) {
      long[] t = image.clusterMap().l2Table(l1Index, offset);
      cache.markDirty(offset);
      return t;
    }
    long[] table;
    if (offset == 0) {
      table = new long[g.clusterSize / 8];
    } else {
      // Shared with a snapshot: the copy refers to the same clusters, whose refcounts already
      // count the snapshot's reference, so only the table itself changes hands.
      table = image.clusterMap().l2Table(l1Index, offset).clone();
      refcounts.free(offset >>> g.clusterBits, 1);
    }
    long fresh = allocate(1);
    cache.putNew(fresh, table);
    l1[l1Index] = L1Entry.owned(fresh);
    dirtyL1.add(l1Index);
    return table;
  }

  /** Allocates clusters, and tells the image that its file now reaches that far. */
  long allocate(int count) throws IOException {
    long offset = refcounts.allocate(count);
    image.growFileSize(refcounts.endCluster() << g.clusterBits);
    return offset;
  }

  /**
   * Host space for {@code count} guest clusters from {@code guestCluster} on: the same offsets in
   * an external data file, or newly allocated clusters of the image.
   */
  long dataHost(long guestCluster, int count) throws IOException {
    return external ? guestCluster : allocate(count);
  }

  /** Queues the release of whatever host clusters an L2 entry holds. */
  void release(long entry) {
    if (external) {
      return; // an external data file's clusters are not refcounted
    }
    if (L2Entry.isCompressed(entry)) {
      refcounts.free(
          CompressedDescriptor.firstCluster(entry, g.clusterBits),
          CompressedDescriptor.clusterCount(entry, g.clusterBits));
      return;
    }
    long host = L2Entry.hostOffset(entry);
    if (host != 0) {
      refcounts.free(host >>> g.clusterBits, 1);
    }
  }

  /** Writes guest data at {@code hostOffset} of the data file (or the image file). */
  void writeData(ByteBuffer bytes, long hostOffset) throws IOException {
    if (external && hostOffset + bytes.remaining() > image.size()) {
      // A data file holds the disk at its guest offsets: the last cluster's tail past the end of
      // the disk is never read, and a raw data file must stay exactly the disk's size.
      bytes =
          bytes.duplicate().limit(bytes.position() + (int) Math.max(0, image.size() - hostOffset));
    }
    data.write(encryption == null ? bytes : encryption.encrypt(bytes, hostOffset), hostOffset);
    if (encryption != null) {
      bytes.position(bytes.limit());
    }
    dataWritten = true;
  }

  // ---------------------------------------------------------------------------------------------
  // The operations, each done by its part

  /** Writes {@code src} at {@code guestOffset}; the range lies inside the disk. */
  void write(ByteBuffer src, long guestOffset) throws IOException {
    image.dirtyBitmaps().changed(guestOffset, src.remaining());
    guestWrites.write(src, guestOffset);
  }

  /** Makes [guest, guest + length) read as zeros. */
  void writeZeroes(long guest, long length) throws IOException {
    image.dirtyBitmaps().changed(guest, length);
    zeroWrites.writeZeroes(guest, length);
  }

  /** Discards whole clusters in [guest, guest + length): see {@link ZeroWrites#discard}. */
  void discard(long guest, long length) throws IOException {
    image.dirtyBitmaps().changed(guest, length);
    zeroWrites.discard(guest, length);
  }

  /** Makes every cluster unallocated: see {@link ZeroWrites#makeEmpty}. */
  void makeEmpty() throws IOException {
    zeroWrites.makeEmpty();
  }

  /** Stores one whole guest cluster compressed (plainly if it does not shrink). */
  void writeCompressed(ByteBuffer cluster, long guest) throws IOException {
    ImageEncryption.refuseCompression(image.filename(), encryption);
    image.dirtyBitmaps().changed(guest, Math.min(cluster.remaining(), image.size() - guest));
    compressedWrites.writeCompressed(cluster, guest);
  }

  /** Stores the compressed bytes of one guest cluster. */
  void writePacked(ByteBuffer packed, long guest) throws IOException {
    ImageEncryption.refuseCompression(image.filename(), encryption);
    image.dirtyBitmaps().changed(guest, Math.min(g.clusterSize, image.size() - guest));
    compressedWrites.writePacked(packed, guest);
  }

  void resize(long newSize) throws IOException {
    image.dirtyBitmaps().beforeResize();
    resizer.resize(newSize);
  }

  void shrink(long newSize) throws IOException {
    image.dirtyBitmaps().beforeResize();
    resizer.shrink(newSize);
  }

  void preallocate(CreateOptions.Preallocation mode) throws IOException {
    preallocator.preallocate(mode);
  }

  // ---------------------------------------------------------------------------------------------
  // Writing back

  void flushIfCacheFull() throws IOException {
    if (cache.dirtyCount() > cache.capacity() / 2 + 1) {
      flush();
    }
  }

  /**
   * Writes back everything in crash-safe order (see the class comment) and makes it durable. With
   * lazy refcounts the refcount blocks wait for {@link #close}.
   */
  void flush() throws IOException {
    writeBack(!lazy);
  }

  /** The last write-back: everything, then the dirty bit cleared. */
  void close() throws IOException {
    writeBack(true);
    image.dirtyBitmaps().store(this);
    if (dirtyBitSet) {
      writeIncompatibleFeatures(
          image.header().incompatibleFeatures() & ~FeatureBits.INCOMPAT_DIRTY);
      dirtyBitSet = false;
    }
  }

  /** Everything written back and durable, refcounts included (lazy refcounts or not). */
  void writeBackAll() throws IOException {
    writeBack(true);
  }

  private void writeBack(boolean withRefcounts) throws IOException {
    // Clusters written only in part (the rest left as holes) must still lie inside the file.
    long end = refcounts.endCluster() << g.clusterBits;
    long nextCompressedByte = compressedWrites.nextByte();
    if (nextCompressedByte != 0
        && (nextCompressedByte >>> g.clusterBits) == refcounts.endCluster() - 1) {
      // The last cluster is being filled with compressed clusters: like qemu, let the file end
      // after the last sector they use (with 2 MiB clusters this saves up to 2 MiB an image).
      end = (nextCompressedByte + 511) & ~511L;
    }
    if (storage.size() < end) {
      storage.truncate(end);
      dataWritten = true;
    }
    if (dataWritten) {
      data.force();
      storage.force();
      dataWritten = false;
    }
    if (withRefcounts && refcounts.hasDirtyBlocks()) {
      refcounts.writeBlocks();
      storage.force();
    }
    if (withRefcounts && refcounts.hasDirtyTable()) {
      refcounts.writeTable();
      storage.force();
    }
    Map<Long, long[]> tables = cache.dirtyTables();
    if (!tables.isEmpty()) {
      for (Map.Entry<Long, long[]> e : tables.entrySet()) {
        ByteBuffer b = ByteBuffer.allocate(g.clusterSize);
        b.asLongBuffer().put(e.getValue());
        storage.write(b, e.getKey());
      }
      storage.force();
      cache.markClean();
    }
    if (!dirtyL1.isEmpty()) {
      ByteBuffer b = ByteBuffer.allocate(8);
      long l1Offset = image.l1TableOffset();
      long[] l1 = image.l1();
      for (int i : dirtyL1) {
        b.clear();
        b.putLong(0, l1[i]);
        storage.write(b, l1Offset + 8L * i);
      }
      storage.force();
      dirtyL1.clear();
    }
    if (refcounts.hasPendingFrees()) {
      // The tables that dropped these references are durable now.
      refcounts.applyFrees();
      compressedWrites.resetPacking();
    }
    if (withRefcounts && refcounts.hasDirtyBlocks()) {
      refcounts.writeBlocks();
      storage.force();
    }
  }
}
