package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.TreeSet;

/**
 * Guest writes, zero writes and discards on a writable image (QEMU's qcow2-cluster.c): finds or
 * allocates the clusters, copies what a partial write does not cover, and updates L2 and L1
 * entries. Every change is made in memory and written back by {@link #flush} in the order that
 * keeps the image consistent after a crash at any moment:
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
  private final Qcow2Image image;
  private final Storage storage;
  /** Where guest data goes: the external data file, or the image file. */
  private final Storage data;
  /** Guest data lives in an external data file at its guest offset, not refcounted. */
  private final boolean external;
  /** The external data file must stay a valid raw image: zeros are written, never flagged. */
  private final boolean rawData;
  private final ClusterGeometry g;
  private final L2Cache cache;
  private final Refcounts refcounts;
  private final boolean v3;
  private final TreeSet<Integer> dirtyL1 = new TreeSet<>();
  /** Guest content of one cluster, for copy-on-write. */
  private final ByteBuffer clusterBuffer;
  private ClusterCompressor compressor;
  /** Where the next compressed cluster's bytes go, or 0 to start a new host cluster. */
  private long nextCompressedByte;
  private boolean dataWritten;
  /**
   * With lazy refcounts the refcount blocks reach the file only at close; the dirty bit, set before
   * the first change, tells the next writer to rebuild them if we never get there.
   */
  private final boolean lazy;
  private boolean dirtyBitSet;

  ImageWriter(Qcow2Image image, Refcounts refcounts) {
    this.image = image;
    this.storage = image.storage();
    this.data = image.dataStorage();
    this.external = image.hasExternalDataFile();
    this.rawData = external && (image.header().autoclearFeatures() & FeatureBits.AUTOCLEAR_DATA_FILE_RAW) != 0;
    this.g = image.geometry();
    this.cache = image.l2Cache();
    this.refcounts = refcounts;
    this.v3 = image.header().version() >= 3;
    this.clusterBuffer = ByteBuffer.allocateDirect(g.clusterSize);
    this.lazy = image.header().hasLazyRefcounts();
  }

  /** Called before every change: with lazy refcounts, sets the dirty bit once and makes it durable. */
  private void beforeChange() throws IOException {
    if (lazy && !dirtyBitSet) {
      writeIncompatibleFeatures(image.header().incompatibleFeatures() | FeatureBits.INCOMPAT_DIRTY);
      dirtyBitSet = true;
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
    nextCompressedByte = 0;
  }

  void changing() throws IOException {
    beforeChange();
  }

  // ---------------------------------------------------------------------------------------------
  // L2 tables

  /**
   * The L2 table for {@code l1Index}, ready to be changed: allocated if missing, copied if shared
   * with a snapshot (its L1 entry lacks COPIED).
   */
  private long[] l2ForWrite(int l1Index) throws IOException {
    long[] l1 = image.l1();
    long entry = l1[l1Index];
    long offset = L1Entry.l2Offset(entry);
    if (offset != 0 && L1Entry.isCopied(entry)) {
      long[] t = image.l2Table(l1Index, offset);
      cache.markDirty(offset);
      return t;
    }
    long[] table;
    if (offset == 0) {
      table = new long[g.clusterSize / 8];
    } else {
      // Shared with a snapshot: the copy refers to the same clusters, whose refcounts already
      // count the snapshot's reference, so only the table itself changes hands.
      table = image.l2Table(l1Index, offset).clone();
      refcounts.free(offset >>> g.clusterBits, 1);
    }
    long fresh = allocate(1);
    cache.putNew(fresh, table);
    l1[l1Index] = L1Entry.owned(fresh);
    dirtyL1.add(l1Index);
    return table;
  }

  /** Allocates clusters, and tells the image that its file now reaches that far. */
  private long allocate(int count) throws IOException {
    long offset = refcounts.allocate(count);
    image.growFileSize(refcounts.endCluster() << g.clusterBits);
    return offset;
  }

  /**
   * Host space for {@code count} guest clusters from {@code guestCluster} on: the same offsets in
   * an external data file, or newly allocated clusters of the image.
   */
  private long dataHost(long guestCluster, int count) throws IOException {
    return external ? guestCluster : allocate(count);
  }

  /** Queues the release of whatever host clusters an L2 entry holds. */
  private void release(long entry) {
    if (external) {
      return; // an external data file's clusters are not refcounted
    }
    if (L2Entry.isCompressed(entry)) {
      refcounts.free(CompressedDescriptor.firstCluster(entry, g.clusterBits),
          CompressedDescriptor.clusterCount(entry, g.clusterBits));
      return;
    }
    long host = L2Entry.hostOffset(entry);
    if (host != 0) {
      refcounts.free(host >>> g.clusterBits, 1);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Writes

  /** Writes {@code src} at {@code guestOffset}; the range lies inside the disk. */
  void write(ByteBuffer src, long guestOffset) throws IOException {
    beforeChange();
    long at = guestOffset;
    while (src.hasRemaining()) {
      int inCluster = g.offsetInCluster(at);
      if (inCluster == 0 && src.remaining() >= g.clusterSize) {
        at += writeWholeClusters(src, at);
        continue;
      }
      int n = Math.min(src.remaining(), g.clusterSize - inCluster);
      ByteBuffer part = src.slice().limit(n);
      writeInCluster(part, at);
      src.position(src.position() + n);
      at += n;
    }
    flushIfCacheFull();
  }

  /**
   * Writes a run of whole clusters within one L2 table with one write: either clusters we own that
   * lie back to back in the file (overwritten in place), or clusters that need new space (given
   * one contiguous allocation). Nothing needs copying, since every byte is overwritten.
   *
   * @return the number of guest bytes written (whole clusters, at least one)
   */
  private long writeWholeClusters(ByteBuffer src, long guest) throws IOException {
    int l1Index = g.l1Index(guest);
    long[] table = l2ForWrite(l1Index);
    int first = g.l2Index(guest);
    int k = g.extendedL2 ? 2 : 1;
    int max = Math.min(src.remaining() >>> g.clusterBits, g.l2Entries - first);
    long firstHost = ownedHost(table[k * first]);
    if (firstHost >= 0) {
      image.checkedHost(firstHost, l1Index, first);
    }
    int n = 1;
    if (firstHost >= 0) {
      // Back to back after a valid first cluster, and within the file, since the file grows by
      // whole clusters.
      while (n < max && ownedHost(table[k * (first + n)]) == firstHost + ((long) n << g.clusterBits)) {
        image.checkedHost(firstHost + ((long) n << g.clusterBits), l1Index, first + n);
        n++;
      }
    } else {
      while (n < max && ownedHost(table[k * (first + n)]) < 0) {
        n++;
      }
    }
    int bytes = n << g.clusterBits;
    ByteBuffer part = src.slice().limit(bytes);
    long host = firstHost >= 0 ? firstHost : dataHost(guest, n);
    writeData(part, host);
    for (int i = 0; i < n; i++) {
      int index = k * (first + i);
      if (firstHost < 0) {
        release(table[index]);
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
    return L2Entry.isOwned(entry, external) ? L2Entry.hostOffset(entry) : -1;
  }

  private void writeInCluster(ByteBuffer data, long guest) throws IOException {
    int l1Index = g.l1Index(guest);
    long[] table = l2ForWrite(l1Index);
    int l2Index = g.l2Index(guest);
    int inCluster = g.offsetInCluster(guest);
    long clusterStart = guest - inCluster;
    if (g.extendedL2) {
      writeSubclusters(table, l2Index, data, guest);
      return;
    }
    long entry = table[l2Index];
    long host = L2Entry.hostOffset(entry);
    boolean owned = L2Entry.isOwned(entry, external);
    if (owned) {
      image.checkedHost(host, l1Index, l2Index);
    }
    if (owned && !L2Entry.hasZeroFlag(entry)) {
      writeData(data, host + inCluster);
      return;
    }
    // A new cluster (or the zeroed one we own) gets the cluster's whole content.
    ByteBuffer content;
    long target = owned ? host : -1;
    if (!owned && !external && readsZero(entry, clusterStart) && refcounts.nextIsPast(storage.size())) {
      long fileEnd = storage.size();
      target = allocate(1);
      if (target >= fileEnd) {
        // Past the end of the file the rest of the cluster is a hole: it reads zeros unwritten.
        writeData(data, target + inCluster);
        release(entry);
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
      target = dataHost(clusterStart, 1);
    }
    writeData(content, target);
    if (!owned) {
      release(entry);
    }
    table[l2Index] = L2Entry.owned(target);
  }

  /**
   * A write into a cluster of an extended L2 table: only the subclusters it touches are
   * allocated and filled; the others keep their state (unallocated ones still read from below).
   */
  private void writeSubclusters(long[] table, int l2Index, ByteBuffer data, long guest) throws IOException {
    int inCluster = g.offsetInCluster(guest);
    long clusterStart = guest - inCluster;
    int first = inCluster >>> g.subclusterBits;
    int last = (inCluster + data.remaining() - 1) >>> g.subclusterBits;
    long touched = SubclusterBitmap.range(first, last);
    long entry = table[2 * l2Index];
    long bitmap = table[2 * l2Index + 1];
    long host = L2Entry.hostOffset(entry);
    boolean compressed = L2Entry.isCompressed(entry);
    boolean owned = L2Entry.isOwned(entry, external);
    if (owned) {
      image.checkedHost(host, g.l1Index(guest), l2Index);
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
      long target = owned ? host : dataHost(clusterStart, 1);
      writeData(content, target + from);
      table[2 * l2Index] = L2Entry.owned(target);
      table[2 * l2Index + 1] = SubclusterBitmap.of(
          SubclusterBitmap.allocated(bitmap) | touched, SubclusterBitmap.zero(bitmap) & ~touched);
      return;
    }
    // A shared or compressed cluster: copy all of it into a cluster of our own.
    ByteBuffer content = currentContent(clusterStart, g.clusterSize);
    content.position(inCluster);
    content.put(data);
    content.rewind();
    long target = dataHost(clusterStart, 1);
    writeData(content, target);
    release(entry);
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

  /** What the guest currently reads at [guest, guest + length), in the shared cluster buffer. */
  private ByteBuffer currentContent(long guest, int length) throws IOException {
    ByteBuffer b = clusterBuffer.clear().limit(length);
    image.readUnlocked(b, guest);
    return b.flip();
  }

  private void writeData(ByteBuffer bytes, long hostOffset) throws IOException {
    if (external && hostOffset + bytes.remaining() > image.size()) {
      // A data file holds the disk at its guest offsets: the last cluster's tail past the end of
      // the disk is never read, and a raw data file must stay exactly the disk's size.
      bytes = bytes.duplicate().limit(bytes.position() + (int) Math.max(0, image.size() - hostOffset));
    }
    data.write(bytes, hostOffset);
    dataWritten = true;
  }

  // ---------------------------------------------------------------------------------------------
  // Preallocation

  /**
   * Allocates every L2 table and every data cluster of an empty image, as qemu-img create's
   * preallocation does: each L2 table followed by the clusters it maps. The data clusters read as
   * zeros: the file is extended sparsely ({@code METADATA}) or zeros are written to them ({@code
   * FALLOC} and {@code FULL}; the JDK cannot ask the file system to allocate without writing).
   * With extended L2 the clusters are allocated but their subclusters are not, so they still read
   * from the backing file.
   */
  void preallocate(CreateOptions.Preallocation mode) throws IOException {
    beforeChange();
    long size = image.size();
    long clusters = (size + g.clusterSize - 1) >>> g.clusterBits;
    int k = g.extendedL2 ? 2 : 1;
    ByteBuffer zeros = mode == CreateOptions.Preallocation.METADATA ? null : ByteBuffer.allocateDirect(1 << 20);
    for (long c = 0; c < clusters; ) {
      int l1Index = (int) (c / g.l2Entries);
      long[] table = l2ForWrite(l1Index);
      int count = (int) Math.min(g.l2Entries - c % g.l2Entries, clusters - c);
      long host = dataHost(c << g.clusterBits, count);
      for (int i = 0; i < count; i++) {
        table[k * (int) ((c + i) % g.l2Entries)] = L2Entry.owned(host + ((long) i << g.clusterBits));
      }
      long end = host + ((long) count << g.clusterBits);
      if (zeros != null) {
        for (long at = host; at < end; at += zeros.capacity()) {
          writeData(zeros.clear().limit((int) Math.min(zeros.capacity(), end - at)), at);
        }
      } else if (end > data.size()) {
        data.truncate(end);
      }
      c += count;
    }
    flush();
  }

  // ---------------------------------------------------------------------------------------------
  // Zeroes and discards

  /** Makes [guest, guest + length) read as zeros. */
  void writeZeroes(long guest, long length) throws IOException {
    beforeChange();
    if (rawData) {
      // The raw data file must read zeros there too: write them.
      writeZeroBytes(guest, length);
      flushIfCacheFull();
      return;
    }
    long end = guest + length;
    long at = guest;
    while (at < end) {
      int inCluster = g.offsetInCluster(at);
      long n = Math.min(end - at, g.clusterSize - inCluster);
      if (inCluster == 0 && n == g.clusterSize && v3) {
        zeroCluster(at);
      } else if (g.extendedL2 && coversSubclusters(inCluster, (int) n)) {
        zeroSubclusters(at, (int) n);
      } else {
        writeZeroBytes(at, (int) n);
      }
      at += n;
    }
    flushIfCacheFull();
  }

  private boolean coversSubclusters(int inCluster, int n) {
    int mask = g.subclusterSize - 1;
    return (inCluster & mask) == 0 && (n & mask) == 0;
  }

  private void writeZeroBytes(long guest, long n) throws IOException {
    if (!v3 && image.backing() == null && readsAsUnallocated(guest)) {
      return; // Nothing below, nothing here: it already reads as zeros.
    }
    ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(n, 1 << 20));
    for (long done = 0; done < n; done += zeros.capacity()) {
      write(zeros.clear().limit((int) Math.min(zeros.capacity(), n - done)), guest + done);
    }
  }

  private boolean readsAsUnallocated(long guest) throws IOException {
    Qcow2Image.Run run = image.lookup(guest, 1);
    return run.kind() == Qcow2Image.UNALLOCATED;
  }

  /** A whole cluster reads as zeros (version 3): the zero flag, and its host cluster let go. */
  private void zeroCluster(long guest) throws IOException {
    long[] table = l2ForWrite(g.l1Index(guest));
    int l2Index = g.l2Index(guest);
    if (g.extendedL2) {
      release(table[2 * l2Index]);
      table[2 * l2Index] = L2Entry.UNALLOCATED;
      table[2 * l2Index + 1] = SubclusterBitmap.ALL_ZERO;
    } else {
      release(table[l2Index]);
      table[l2Index] = L2Entry.ZERO;
    }
  }

  /** Whole subclusters read as zeros: their zero bits set, their allocation bits cleared. */
  private void zeroSubclusters(long guest, int n) throws IOException {
    long[] table = l2ForWrite(g.l1Index(guest));
    int l2Index = g.l2Index(guest);
    int inCluster = g.offsetInCluster(guest);
    long entry = table[2 * l2Index];
    if (L2Entry.isCompressed(entry) || (L2Entry.hostOffset(entry) != 0 && !L2Entry.isCopied(entry))) {
      // Compressed or shared: take a copy of our own first, then zero within it.
      writeZeroBytes(guest, n);
      return;
    }
    int first = inCluster >>> g.subclusterBits;
    int last = (inCluster + n - 1) >>> g.subclusterBits;
    long touched = SubclusterBitmap.range(first, last);
    long bitmap = table[2 * l2Index + 1];
    table[2 * l2Index + 1] = SubclusterBitmap.of(
        SubclusterBitmap.allocated(bitmap) & ~touched, SubclusterBitmap.zero(bitmap) | touched);
  }

  /**
   * Discards whole clusters in [guest, guest + length); partial clusters are left alone, as qemu
   * does. Afterwards the clusters read as zeros. A version 2 image with a backing file has no zero
   * flag to hide the backing data with, so, like qemu, the discard does nothing there rather than
   * expose stale backing data.
   */
  void discard(long guest, long length) throws IOException {
    if (!v3 && image.backing() != null) {
      return;
    }
    beforeChange();
    if (rawData) {
      // Discarded clusters of a raw data file become zeros in it, which is what they read as.
      long first = (guest + g.clusterSize - 1) & ~((long) g.clusterSize - 1);
      long end = (guest + length) & ~((long) g.clusterSize - 1);
      if (guest + length == image.size()) {
        end = guest + length;
      }
      if (end > first) {
        writeZeroBytes(first, end - first);
      }
      flushIfCacheFull();
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
    flushIfCacheFull();
  }

  private void discardCluster(long guest) throws IOException {
    int l1Index = g.l1Index(guest);
    long[] l1 = image.l1();
    if (L1Entry.l2Offset(l1[l1Index]) == 0 && image.backing() == null) {
      return; // Nothing allocated and nothing below.
    }
    if (L1Entry.l2Offset(l1[l1Index]) == 0 && !v3) {
      return; // Unallocated in version 2 already reads zeros (there is no backing file).
    }
    long[] table = l2ForWrite(l1Index);
    int l2Index = g.l2Index(guest);
    int k = g.extendedL2 ? 2 : 1;
    long entry = table[k * l2Index];
    boolean allocated = L2Entry.holdsHostSpace(entry);
    release(entry);
    if (image.backing() != null || allocated) {
      if (g.extendedL2) {
        table[2 * l2Index] = L2Entry.UNALLOCATED;
        table[2 * l2Index + 1] = SubclusterBitmap.ALL_ZERO;
      } else {
        table[l2Index] = v3 ? L2Entry.ZERO : L2Entry.UNALLOCATED;
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
    if (rawData) {
      throw new UnsupportedOperationException(image.filename() + ": an image with a raw data file cannot be emptied");
    }
    beforeChange();
    long[] l1 = image.l1();
    int k = g.extendedL2 ? 2 : 1;
    for (int i = 0; i < l1.length; i++) {
      if (L1Entry.l2Offset(l1[i]) == 0) {
        continue;
      }
      long[] table = l2ForWrite(i);
      for (int j = 0; j < g.l2Entries; j++) {
        release(table[k * j]);
        table[k * j] = 0;
        if (g.extendedL2) {
          table[2 * j + 1] = 0;
        }
      }
      flushIfCacheFull();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Compressed clusters

  /**
   * Stores one whole guest cluster compressed. If it does not shrink, it is stored as a normal
   * cluster, as qemu does.
   */
  void writeCompressed(ByteBuffer cluster, long guest) throws IOException {
    if (external) {
      throw new IllegalStateException(image.filename() + ": compressed clusters cannot go to an external data file");
    }
    beforeChange();
    if (compressor == null) {
      compressor = new ClusterCompressor(image.header().compressionType(), g.clusterSize);
    }
    ByteBuffer packed = compressor.compress(cluster.duplicate());
    if (packed == null) {
      write(cluster, guest);
      return;
    }
    writePacked(packed, guest);
    cluster.position(cluster.limit());
  }

  /** Stores the compressed bytes of one guest cluster, packed after the previous ones. */
  void writePacked(ByteBuffer packed, long guest) throws IOException {
    if (external) {
      throw new IllegalStateException(image.filename() + ": compressed clusters cannot go to an external data file");
    }
    beforeChange();
    int size = packed.remaining();
    // The L2 table first, as qemu does: allocated after the bytes, it would take the cluster the
    // next compressed cluster could have spilled into.
    long[] table = l2ForWrite(g.l1Index(guest));
    long offset = allocateBytes(size);
    writeData(packed, offset);
    int l2Index = g.l2Index(guest);
    int k = g.extendedL2 ? 2 : 1;
    release(table[k * l2Index]);
    table[k * l2Index] = CompressedDescriptor.entry(offset, size, g.clusterBits);
    if (g.extendedL2) {
      table[2 * l2Index + 1] = 0;
    }
    flushIfCacheFull();
  }

  /**
   * Allocates {@code size} bytes for compressed data, packed after the previous compressed
   * cluster (qemu's qcow2_alloc_bytes). Every host cluster the bytes touch gains one reference.
   */
  private long allocateBytes(int size) throws IOException {
    long offset = nextCompressedByte;
    if (offset != 0 && !refcounts.canIncrement(offset >>> g.clusterBits)) {
      offset = 0; // narrow refcounts (1 bit) cannot share a cluster between compressed clusters
    }
    if (offset != 0) {
      long cluster = offset >>> g.clusterBits;
      long lastCluster = (offset + size - 1) >>> g.clusterBits;
      if (lastCluster == cluster) {
        refcounts.increment(cluster, 1, 1);
      } else if (lastCluster == cluster + 1 && refcounts.tryAllocateAt(cluster + 1)) {
        refcounts.increment(cluster, 1, 1);
        image.growFileSize(refcounts.endCluster() << g.clusterBits);
      } else {
        offset = 0;
      }
    }
    if (offset == 0) {
      offset = allocate(1);
    }
    long end = offset + size;
    nextCompressedByte = (end & (g.clusterSize - 1)) == 0 ? 0 : end;
    return offset;
  }

  // ---------------------------------------------------------------------------------------------
  // Resizing

  /**
   * Grows the disk. If the L1 table is too small, a larger one is written to new clusters and made
   * durable with everything else first; then one header write switches size, l1_size and
   * l1_table_offset together (bytes 24 to 47); the old table's clusters are freed after that.
   */
  void resize(long newSize) throws IOException {
    beforeChange();
    long[] l1 = image.l1();
    long needed = g.l1EntriesFor(newSize);
    if (needed > (32L << 20) / 8) {
      throw new IllegalArgumentException(image.filename() + ": size " + newSize + " needs an L1 table larger than 32 MiB");
    }
    flush();
    long l1Offset = image.l1TableOffset();
    long[] newL1 = l1;
    if (needed > l1.length) {
      newL1 = java.util.Arrays.copyOf(l1, (int) needed);
      int clusters = (int) ((needed * 8 + g.clusterSize - 1) >>> g.clusterBits);
      long newOffset = allocate(clusters);
      ByteBuffer table = ByteBuffer.allocate(clusters << g.clusterBits);
      table.asLongBuffer().put(newL1);
      storage.write(table, newOffset);
      flush(); // the new table and its refcounts are durable before the header names them
      long oldClusters = ((long) l1.length * 8 + g.clusterSize - 1) >>> g.clusterBits;
      if (l1.length > 0) {
        refcounts.free(l1Offset >>> g.clusterBits, oldClusters);
      }
      l1Offset = newOffset;
    }
    image.updateHeader(new HeaderUpdate().size(newSize).l1Table(newL1.length, l1Offset));
    image.resized(newSize, newL1, l1Offset);
    flush(); // now the old table may be freed
  }

  /**
   * Shrinks the disk, as qemu does: every cluster from the first whole cluster past the new end
   * is made unallocated, L2 tables wholly past it are freed and their L1 entries cleared, all that
   * made durable; then one header write sets the new size. The L1 table keeps its length.
   */
  void shrink(long newSize) throws IOException {
    if (rawData) {
      throw new UnsupportedOperationException(image.filename() + ": an image with a raw data file cannot be shrunk");
    }
    beforeChange();
    long[] l1 = image.l1();
    long firstGone = (newSize + g.clusterSize - 1) & ~((long) g.clusterSize - 1);
    int k = g.extendedL2 ? 2 : 1;
    long keepTables = g.l1EntriesFor(newSize);
    for (int i = 0; i < l1.length; i++) {
      long l2Offset = L1Entry.l2Offset(l1[i]);
      long tableStart = (long) i * g.bytesPerL2Table();
      if (l2Offset == 0 || tableStart + g.bytesPerL2Table() <= firstGone) {
        continue;
      }
      if (i >= keepTables) {
        // The whole table lies past the end. The active layer drops its reference to the table
        // and, through it, to every cluster it reaches (a snapshot sharing them keeps its own).
        long[] table = image.l2Table(i, l2Offset);
        for (int j = 0; j < g.l2Entries; j++) {
          release(table[k * j]);
        }
        refcounts.free(l2Offset >>> g.clusterBits, 1);
        l1[i] = 0;
        dirtyL1.add(i);
        continue;
      }
      long[] table = l2ForWrite(i);
      for (int j = 0; j < g.l2Entries; j++) {
        long guest = tableStart + ((long) j << g.clusterBits);
        if (guest < firstGone) {
          continue;
        }
        release(table[k * j]);
        table[k * j] = 0;
        if (g.extendedL2) {
          table[2 * j + 1] = 0;
        }
      }
      flushIfCacheFull();
    }
    flush();
    image.updateHeader(new HeaderUpdate().size(newSize));
    image.resized(newSize, l1, image.l1TableOffset());
    flush(); // now the dropped clusters may be freed
  }

  // ---------------------------------------------------------------------------------------------
  // Writing back

  private void flushIfCacheFull() throws IOException {
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
    if (dirtyBitSet) {
      writeIncompatibleFeatures(image.header().incompatibleFeatures() & ~FeatureBits.INCOMPAT_DIRTY);
      dirtyBitSet = false;
    }
  }

  private void writeBack(boolean withRefcounts) throws IOException {
    // Clusters written only in part (the rest left as holes) must still lie inside the file.
    long end = refcounts.endCluster() << g.clusterBits;
    if (nextCompressedByte != 0 && (nextCompressedByte >>> g.clusterBits) == refcounts.endCluster() - 1) {
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
      nextCompressedByte = 0;
    }
    if (withRefcounts && refcounts.hasDirtyBlocks()) {
      refcounts.writeBlocks();
      storage.force();
    }
  }
}
