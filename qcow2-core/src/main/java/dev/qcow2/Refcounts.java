package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * The refcount table, its refcount blocks and the cluster allocator (QEMU's qcow2-refcount.c).
 *
 * <p>Crash safety rests on one rule: whatever this class holds in memory may be written at any
 * time, because it only ever makes refcounts larger than the durable references (a crash then leaks
 * clusters, never corrupts). Decrements are therefore not applied when a reference goes away:
 * {@link #free} queues them, and {@link #applyFrees} applies them only after the caller has made
 * the new L2 and L1 tables durable.
 *
 * <p>New refcount blocks are written before the table entries that point to them ({@link
 * #writeBlocks} then {@link #writeTable}, with a flush between). A block that must be created sits
 * inside the range it describes, so it counts itself; when the table itself is full, a larger table
 * is built at the end of the file together with the blocks that describe it, written and flushed,
 * and only then does the header switch to it.
 *
 * <p>Not thread-safe: the image calls it under its write lock.
 */
final class Refcounts {
  private final String image;
  private final Storage storage;
  private final ClusterGeometry g;
  private final int order;
  private final int perBlock;
  private final long max;
  private long[] table;
  private long tableOffset;
  private int tableClusters;

  /** Loaded refcount blocks by table index; null where not loaded. */
  private byte[][] blocks;

  private final TreeSet<Integer> dirtyBlocks = new TreeSet<>();
  private final TreeSet<Integer> dirtyTableEntries = new TreeSet<>();

  /** Host cluster index and count of each queued decrement. */
  private final List<long[]> pendingFrees = new ArrayList<>();

  /** Where the next search for free clusters starts (qemu's free_cluster_index). */
  private long freeHint;

  /** One past the highest cluster index in use or in the file. */
  private long endCluster;

  Refcounts(String image, Storage storage, Header h, ClusterGeometry g) throws IOException {
    this.image = image;
    this.storage = storage;
    this.g = g;
    this.order = h.refcountOrder();
    this.perBlock = RefcountBlock.entries(g.clusterSize, order);
    this.max = RefcountBlock.max(order);
    this.tableOffset = h.refcountTableOffset();
    this.tableClusters = h.refcountTableClusters();
    ByteBuffer b = ByteBuffer.allocate(tableClusters * g.clusterSize);
    storage.readOrZero(b, tableOffset);
    b.flip();
    this.table = new long[b.remaining() / 8];
    b.asLongBuffer().get(table);
    this.blocks = new byte[table.length][];
    this.endCluster = clustersIn(storage.size());
  }

  private long clustersIn(long bytes) {
    return (bytes + g.clusterSize - 1) >>> g.clusterBits;
  }

  /** The refcount table's entries as they are now. */
  long[] table() {
    return table.clone();
  }

  /** Sets a refcount outright, for repairs that know the right value; written by writeBlocks. */
  void setForRepair(long cluster, long value) throws IOException {
    int t = ensureBlock(cluster);
    RefcountBlock.set(block(t), (int) (cluster % perBlock), order, value);
    dirtyBlocks.add(t);
  }

  /** One past the highest cluster index used: where appended clusters go. */
  long endCluster() {
    return endCluster;
  }

  // ---------------------------------------------------------------------------------------------
  // Reading refcounts

  long get(long cluster) throws IOException {
    long t = cluster / perBlock;
    if (t >= table.length || (table[(int) t] & ~0x1ffL) == 0) {
      return 0;
    }
    return RefcountBlock.get(block((int) t), (int) (cluster % perBlock), order);
  }

  private byte[] block(int t) throws IOException {
    byte[] b = blocks[t];
    if (b != null) {
      return b;
    }
    long offset = table[t] & ~0x1ffL;
    if (offset < 0 || !g.isClusterAligned(offset) || offset > storage.size() - g.clusterSize) {
      throw new CorruptImageException(
          image,
          Structure.REFCOUNT_BLOCK,
          tableOffset + 8L * t,
          "offset 0x"
              + Long.toHexString(offset)
              + " is not cluster-aligned or lies outside the file"
              + " (refcount table index "
              + t
              + ")");
    }
    b = new byte[g.clusterSize];
    storage.readOrZero(ByteBuffer.wrap(b), offset);
    blocks[t] = b;
    return b;
  }

  // ---------------------------------------------------------------------------------------------
  // Changing refcounts

  /** Adds {@code delta} (positive) to the refcount of every cluster in [first, first + count). */
  void increment(long first, long count, long delta) throws IOException {
    for (long c = first; c < first + count; c++) {
      int t = ensureBlock(c);
      byte[] b = block(t);
      int i = (int) (c % perBlock);
      long v = RefcountBlock.get(b, i, order);
      if (Long.compareUnsigned(v, max - delta) > 0) {
        throw new ImageLimitException(
            image,
            Structure.REFCOUNT_BLOCK,
            c << g.clusterBits,
            "refcount of cluster " + c + " would overflow " + (1 << order) + " bits");
      }
      RefcountBlock.set(b, i, order, v + delta);
      dirtyBlocks.add(t);
    }
    endCluster = Math.max(endCluster, first + count);
  }

  /**
   * Queues one decrement for every cluster in [first, first + count); it is applied by {@link
   * #applyFrees} once the references to these clusters are durably gone.
   */
  void free(long first, long count) {
    pendingFrees.add(new long[] {first, count});
  }

  boolean hasPendingFrees() {
    return !pendingFrees.isEmpty();
  }

  /**
   * Applies the queued decrements. Call only after the tables that dropped the references are
   * durable.
   */
  void applyFrees() throws IOException {
    for (long[] f : pendingFrees) {
      for (long c = f[0]; c < f[0] + f[1]; c++) {
        if (!hasBlock(c) || get(c) == 0) {
          // A damaged image referred to a cluster it did not count. The reference is gone now;
          // there is nothing to give back, and failing here would only stop the other frees.
          continue;
        }
        int t = (int) (c / perBlock);
        byte[] b = block(t);
        int i = (int) (c % perBlock);
        long v = RefcountBlock.get(b, i, order);
        RefcountBlock.set(b, i, order, v - 1);
        dirtyBlocks.add(t);
        if (v == 1) {
          freeHint = Math.min(freeHint, c);
        }
      }
    }
    pendingFrees.clear();
  }

  // ---------------------------------------------------------------------------------------------
  // Allocating

  /**
   * Allocates {@code count} contiguous free clusters, sets their refcounts to 1 and returns the
   * host offset of the first. First fit from the free hint, so freed space is reused.
   */
  long allocate(int count) throws IOException {
    long start = freeHint;
    while (true) {
      int found = 0;
      while (found < count) {
        if (!isFree(start + found)) {
          start = start + found + 1;
          found = 0;
        } else {
          found++;
        }
      }
      // Every cluster in the run needs a refcount block. Missing ones go at the start of the run,
      // all together (the run is free, and the blocks count themselves or each other there);
      // then the search starts again, just after them.
      if (!placeMissingBlocks(start, count)) {
        break;
      }
    }
    for (long c = start; c < start + count; c++) {
      setForRepair(c, 1);
    }
    endCluster = Math.max(endCluster, start + count);
    // Like qemu's free_cluster_index, the hint moves past everything scanned; a gap too short for
    // this run is found again once a free lowers the hint.
    freeHint = start + count;
    return start << g.clusterBits;
  }

  /** Whether the refcount of {@code cluster} can grow by one. */
  boolean canIncrement(long cluster) throws IOException {
    return Long.compareUnsigned(get(cluster), max) < 0;
  }

  /**
   * Takes the one cluster {@code cluster} if it is free and its refcount block exists (so that
   * taking it needs no other allocation); used to let compressed data run on into the next cluster.
   */
  boolean tryAllocateAt(long cluster) throws IOException {
    if (!hasBlock(cluster) || !isFree(cluster)) {
      return false;
    }
    setForRepair(cluster, 1);
    endCluster = Math.max(endCluster, cluster + 1);
    return true;
  }

  /**
   * Whether a cluster may be allocated: its refcount is 0, or it lies past every cluster the file
   * holds or this writer allocated, where nothing can refer to it (a refcount there is garbage from
   * a damaged image, and trusting it would let the search run over the whole refcount range).
   */
  private boolean isFree(long cluster) throws IOException {
    // Cluster 0 holds the header: a damaged image may count it 0, but it is never free.
    return cluster > 0 && (cluster >= endCluster || get(cluster) == 0);
  }

  /**
   * Creates the refcount blocks missing for the clusters [start, start + count), which are free,
   * and places them in the first clusters of that range.
   *
   * @return false if no block was missing; true if blocks were placed or the table grew, in which
   *     case the caller must search for free clusters again
   */
  private boolean placeMissingBlocks(long start, long count) throws IOException {
    List<Long> missing = new ArrayList<>();
    long lastRange = (start + count - 1) / perBlock;
    for (long t = start / perBlock; t <= lastRange; t++) {
      if (t >= table.length) {
        growTable(lastRange + 1);
        return true;
      }
      if ((table[(int) t] & ~0x1ffL) == 0) {
        missing.add(t);
      }
    }
    if (missing.isEmpty()) {
      return false;
    }
    for (int i = 0; i < missing.size(); i++) {
      int t = (int) (long) missing.get(i);
      blocks[t] = new byte[g.clusterSize];
      table[t] = (start + i) << g.clusterBits;
      dirtyBlocks.add(t);
      dirtyTableEntries.add(t);
    }
    // Each new block lies in the run, so some block (new or old) describes it.
    for (int i = 0; i < missing.size(); i++) {
      long c = start + i;
      int t = (int) (c / perBlock);
      RefcountBlock.set(block(t), (int) (c % perBlock), order, 1);
      dirtyBlocks.add(t);
    }
    endCluster = Math.max(endCluster, start + missing.size());
    return true;
  }

  /**
   * Whether the next single-cluster {@link #allocate} will return a cluster at or past {@code
   * bytes}: no free cluster lies before that point, from the free hint on.
   */
  boolean nextIsPast(long bytes) throws IOException {
    long limit = (bytes + g.clusterSize - 1) >>> g.clusterBits;
    for (long c = freeHint; c < limit; c++) {
      if (isFree(c)) {
        freeHint = c;
        return false;
      }
    }
    freeHint = Math.max(freeHint, limit);
    return true;
  }

  private boolean hasBlock(long cluster) {
    long t = cluster / perBlock;
    return t < table.length && (table[(int) t] & ~0x1ffL) != 0;
  }

  /** The table index of the block describing {@code cluster}, which must exist. */
  private int ensureBlock(long cluster) {
    if (!hasBlock(cluster)) {
      // Only allocate() and tryAllocateAt() add references to clusters without blocks, and both
      // make the block first.
      throw new IllegalStateException(image + ": no refcount block for cluster " + cluster);
    }
    return (int) (cluster / perBlock);
  }

  /**
   * Moves the refcount table to a larger one at the end of the file. The new table and the new
   * blocks that describe its own clusters are written and flushed before the header points to them,
   * so a crash leaves either the old table or the new one, and at worst leaked clusters.
   */
  private void growTable(long minEntries) throws IOException {
    // Everything in memory may be written now (see the class comment); the new table will point
    // to blocks created in memory, so they must be on disk first.
    writeBlocks();
    storage.force();
    writeTable();
    storage.force();

    int entriesPerCluster = g.clusterSize / 8;
    long start = endCluster;
    // At least doubling keeps the number of moves logarithmic in the file size.
    long wanted = Math.max(minEntries + 1, 2L * table.length);
    int newBlocks = 0;
    long entries;
    long tableClustersNew;
    while (true) {
      long areaEnd = start + newBlocks + clustersFor(wanted, entriesPerCluster);
      // Cover the new area and the range after it, where the next allocations will go.
      entries = Math.max(wanted, (areaEnd - 1) / perBlock + 2);
      tableClustersNew = clustersFor(entries, entriesPerCluster);
      areaEnd = start + newBlocks + tableClustersNew;
      int missing = 0;
      for (long t = start / perBlock; t <= (areaEnd - 1) / perBlock; t++) {
        if (t >= table.length || (table[(int) t] & ~0x1ffL) == 0) {
          missing++;
        }
      }
      // missing only grows with newBlocks, so this reaches the exact fixed point.
      if (missing == newBlocks) {
        break;
      }
      newBlocks = missing;
    }
    if (tableClustersNew * g.clusterSize > Header.MAX_REFCOUNT_TABLE_BYTES) {
      throw new ImageLimitException(
          image,
          Structure.REFCOUNT_TABLE,
          tableOffset,
          "would grow past " + Header.MAX_REFCOUNT_TABLE_BYTES + " bytes");
    }
    long[] grown = new long[(int) (tableClustersNew * entriesPerCluster)];
    System.arraycopy(table, 0, grown, 0, table.length);
    blocks = java.util.Arrays.copyOf(blocks, grown.length);
    long next = start;
    long areaEnd = start + newBlocks + tableClustersNew;
    for (long t = start / perBlock; t <= (areaEnd - 1) / perBlock; t++) {
      if ((grown[(int) t] & ~0x1ffL) == 0) {
        grown[(int) t] = next << g.clusterBits;
        blocks[(int) t] = new byte[g.clusterSize];
        dirtyBlocks.add((int) t);
        next++;
      }
    }
    long oldOffset = tableOffset;
    int oldClusters = tableClusters;
    table = grown;
    for (long c = start; c < areaEnd; c++) {
      int t = (int) (c / perBlock);
      RefcountBlock.set(block(t), (int) (c % perBlock), order, 1);
      dirtyBlocks.add(t);
    }
    endCluster = Math.max(endCluster, areaEnd);
    tableOffset = next << g.clusterBits;
    tableClusters = (int) tableClustersNew;
    writeBlocks();
    dirtyTableEntries.clear();
    writeWholeTable();
    storage.force();
    // The switch: refcount_table_offset and refcount_table_clusters in one write.
    new HeaderUpdate().refcountTable(tableOffset, tableClusters).writeTo(storage);
    // Nothing points to the old table any more.
    long oldFirst = oldOffset >>> g.clusterBits;
    for (long c = oldFirst; c < oldFirst + oldClusters; c++) {
      int t = (int) (c / perBlock);
      byte[] b = block(t);
      RefcountBlock.set(
          b, (int) (c % perBlock), order, RefcountBlock.get(b, (int) (c % perBlock), order) - 1);
      dirtyBlocks.add(t);
      freeHint = Math.min(freeHint, c);
    }
  }

  private static long clustersFor(long entries, int entriesPerCluster) {
    return Math.max(1, (entries + entriesPerCluster - 1) / entriesPerCluster);
  }

  // ---------------------------------------------------------------------------------------------
  // Rebuilding

  /**
   * Replaces the refcount table and blocks with new ones computed from {@code refs} (qemu's
   * rebuild_refcount_structure): the new structures go after everything else in the file, are
   * written and flushed, and only then does the header point to them. The old ones become free.
   */
  static void rebuild(
      String image, Storage storage, Header h, ClusterGeometry g, ReferenceWalk refs)
      throws IOException {
    rebuild(image, storage, h, g, refs, h.refcountOrder());
  }

  /**
   * As {@link #rebuild(String, Storage, Header, ClusterGeometry, ReferenceWalk)}, with refcounts of
   * {@code 1 << order} bits; a new order is switched in the same header write as the new table.
   *
   * @return the new refcount table's offset and size in clusters
   */
  static long[] rebuild(
      String image, Storage storage, Header h, ClusterGeometry g, ReferenceWalk refs, int order)
      throws IOException {
    long[] rebuilt = writeRebuilt(image, storage, g, refs, order);
    long tableOffset = rebuilt[0];
    long tableClusters = rebuilt[1];
    if (order != h.refcountOrder() && h.version() < 3) {
      // A version 2 header has no refcount order: the amend that upgrades it writes the new
      // version, order and table in its own single header write; until then the old table holds.
      return rebuilt;
    }
    // One write: a new refcount order switches together with the table.
    HeaderUpdate update = new HeaderUpdate().refcountTable(tableOffset, (int) tableClusters);
    if (order != h.refcountOrder()) {
      update.refcountOrder(order);
    }
    update.writeTo(storage);
    return rebuilt;
  }

  /**
   * Writes refcount blocks and a table of {@code 1 << order} bits holding {@code refs} (and their
   * own clusters) after everything else in the file, durably, for a header write to switch to.
   *
   * @return the new refcount table's offset and size in clusters
   */
  static long[] writeRebuilt(
      String image, Storage storage, ClusterGeometry g, ReferenceWalk refs, int order)
      throws IOException {
    int perBlock = RefcountBlock.entries(g.clusterSize, order);
    int entriesPerCluster = g.clusterSize / 8;
    long used = refs.highest() + 1;
    long start = Math.max((storage.size() + g.clusterSize - 1) >>> g.clusterBits, used);
    long blocks = 0;
    long tableClusters = 1;
    while (true) {
      long total = start + blocks + tableClusters;
      long needBlocks = (total + perBlock - 1) / perBlock;
      long needTable = Math.max(1, (needBlocks + entriesPerCluster - 1) / entriesPerCluster);
      if (needBlocks == blocks && needTable == tableClusters) {
        break;
      }
      blocks = needBlocks;
      tableClusters = needTable;
    }
    if (tableClusters * g.clusterSize > Header.MAX_REFCOUNT_TABLE_BYTES) {
      throw new ImageLimitException(
          image,
          Structure.REFCOUNT_TABLE,
          48,
          "would need more than "
              + Header.MAX_REFCOUNT_TABLE_BYTES
              + " bytes to describe the file");
    }
    long max = RefcountBlock.max(order);
    ByteBuffer table = ByteBuffer.allocate((int) (tableClusters * g.clusterSize));
    byte[] block = new byte[g.clusterSize];
    long areaEnd = start + blocks + tableClusters;
    for (long b = 0; b < blocks; b++) {
      java.util.Arrays.fill(block, (byte) 0);
      for (long c = b * perBlock; c < Math.min((b + 1) * perBlock, areaEnd); c++) {
        long count = c >= start ? 1 : refs.references(c);
        if (Long.compareUnsigned(count, max) > 0) {
          throw new ImageLimitException(
              image,
              Structure.REFCOUNT_BLOCK,
              c << g.clusterBits,
              "cluster " + c + " has " + count + " references, more than refcount_bits allow");
        }
        RefcountBlock.set(block, (int) (c % perBlock), order, count);
      }
      long at = (start + b) << g.clusterBits;
      storage.write(ByteBuffer.wrap(block), at);
      table.putLong((int) (b * 8), at);
    }
    long tableOffset = (start + blocks) << g.clusterBits;
    storage.write(table.clear(), tableOffset);
    storage.force();
    return new long[] {tableOffset, tableClusters};
  }

  // ---------------------------------------------------------------------------------------------
  // Writing back

  /** Writes every changed refcount block. */
  void writeBlocks() throws IOException {
    for (int t : dirtyBlocks) {
      storage.write(ByteBuffer.wrap(blocks[t]), table[t] & ~0x1ffL);
    }
    dirtyBlocks.clear();
  }

  boolean hasDirtyBlocks() {
    return !dirtyBlocks.isEmpty();
  }

  boolean hasDirtyTable() {
    return !dirtyTableEntries.isEmpty();
  }

  /** Writes the table entries of new blocks; call after those blocks are durable. */
  void writeTable() throws IOException {
    ByteBuffer e = ByteBuffer.allocate(8);
    for (int t : dirtyTableEntries) {
      e.clear();
      e.putLong(0, table[t]);
      storage.write(e, tableOffset + 8L * t);
    }
    dirtyTableEntries.clear();
  }

  private void writeWholeTable() throws IOException {
    ByteBuffer b = ByteBuffer.allocate(tableClusters * g.clusterSize);
    b.asLongBuffer().put(table);
    storage.write(b, tableOffset);
  }
}
