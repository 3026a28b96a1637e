package dev.qcow2;

import java.io.IOException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A bounded LRU cache of whole L2 tables, keyed by their host offset, like qemu's L2 cache with
 * whole-table entries. Each table is held as a {@code long[]} of its raw entries (two longs per
 * entry with extended L2).
 *
 * <p>Thread-safe: the map is guarded by this object's monitor, and a table is loaded outside it, so
 * a miss does not stall hits on other tables. Two threads missing the same table may both load it;
 * the second result replaces the first, which is harmless because loads only happen for tables that
 * are not dirty.
 *
 * <p>A writer changes tables in place (under the image's write lock) and marks them dirty. A dirty
 * table is never evicted: it stays until the writer has written it back, so the cache may hold more
 * than its capacity between two flushes.
 */
final class L2Cache {
  /** Loads one table from the image. */
  interface Loader {
    long[] load(long hostOffset) throws IOException;
  }

  private final long byBytes;
  private int capacity;
  private final Loader loader;
  private final LinkedHashMap<Long, long[]> tables;
  private final TreeSet<Long> dirty = new TreeSet<>();

  /**
   * @param maxBytes the cache size in bytes; at least two tables are kept, as in qemu
   * @param tableBytes bytes per table (the cluster size)
   */
  L2Cache(long maxBytes, int tableBytes, long tablesInImage, Loader loader) {
    this.byBytes = Math.max(2, maxBytes / tableBytes);
    this.capacity = capacityFor(tablesInImage);
    this.loader = loader;
    this.tables = new LinkedHashMap<>(16, 0.75f, true);
  }

  private int capacityFor(long tablesInImage) {
    return (int) Math.max(2, Math.min(byBytes, Math.max(tablesInImage, 2)));
  }

  /**
   * The disk now has {@code tablesInImage} L1 entries (after a resize): the capacity follows, as
   * when opening, so that a grown disk is not served by a cache sized for the small one.
   */
  synchronized void tablesInImage(long tablesInImage) {
    capacity = capacityFor(tablesInImage);
    trim(-1);
  }

  long[] get(long hostOffset) throws IOException {
    synchronized (this) {
      long[] t = tables.get(hostOffset);
      if (t != null) {
        return t;
      }
    }
    long[] t = loader.load(hostOffset);
    synchronized (this) {
      long[] raced = tables.get(hostOffset);
      if (raced != null) {
        return raced;
      }
      tables.put(hostOffset, t);
      trim(hostOffset);
    }
    return t;
  }

  /** Adds a table the writer made (a new or copied L2 table); it starts dirty. */
  synchronized void putNew(long hostOffset, long[] table) {
    tables.put(hostOffset, table);
    dirty.add(hostOffset);
  }

  synchronized void markDirty(long hostOffset) {
    dirty.add(hostOffset);
  }

  synchronized int dirtyCount() {
    return dirty.size();
  }

  /** The dirty tables by host offset, in file order; they stay dirty until {@link #markClean}. */
  synchronized Map<Long, long[]> dirtyTables() {
    Map<Long, long[]> m = new TreeMap<>();
    for (long offset : dirty) {
      m.put(offset, tables.get(offset));
    }
    return m;
  }

  /**
   * Forgets every table, after the image switched to other tables (whose old clusters may be
   * reused); nothing may be dirty.
   */
  synchronized void clear() {
    if (!dirty.isEmpty()) {
      throw new IllegalStateException("L2 tables not written back: " + dirty.size());
    }
    tables.clear();
  }

  synchronized void markClean() {
    dirty.clear();
    trim(-1);
  }

  /**
   * Evicts clean tables, least recently used first, down to the capacity, but never {@code keep}:
   * the table just handed out, which a writer may be about to change and mark dirty (with every
   * other table dirty, it would otherwise leave at once, and the change with it).
   */
  private void trim(long keep) {
    Iterator<Map.Entry<Long, long[]>> it = tables.entrySet().iterator();
    while (tables.size() > capacity && it.hasNext()) {
      long key = it.next().getKey();
      if (key != keep && !dirty.contains(key)) {
        it.remove();
      }
    }
  }

  synchronized int capacity() {
    return capacity;
  }

  synchronized int size() {
    return tables.size();
  }
}
