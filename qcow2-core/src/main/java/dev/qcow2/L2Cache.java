package dev.qcow2;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A bounded LRU cache of whole L2 tables, keyed by their host offset, like qemu's L2 cache with
 * whole-table entries. Each table is held as a {@code long[]} of its raw big-endian entries (two
 * longs per entry with extended L2).
 *
 * <p>Thread-safe: the map is guarded by this object's monitor, and a table is loaded outside it,
 * so a miss does not stall hits on other tables. Two threads missing the same table may both load
 * it; the second result replaces the first, which is harmless for read-only tables.
 */
final class L2Cache {
  /** Loads one table from the image. */
  interface Loader {
    long[] load(long hostOffset) throws IOException;
  }

  private final int capacity;
  private final Loader loader;
  private final LinkedHashMap<Long, long[]> tables;

  /**
   * @param maxBytes the cache size in bytes; at least two tables are kept, as in qemu
   * @param tableBytes bytes per table (the cluster size)
   */
  L2Cache(long maxBytes, int tableBytes, long tablesInImage, Loader loader) {
    long byBytes = Math.max(2, maxBytes / tableBytes);
    this.capacity = (int) Math.max(2, Math.min(byBytes, Math.max(tablesInImage, 2)));
    this.loader = loader;
    this.tables =
        new LinkedHashMap<>(16, 0.75f, true) {
          private static final long serialVersionUID = 1L;

          @Override
          protected boolean removeEldestEntry(Map.Entry<Long, long[]> eldest) {
            return size() > capacity;
          }
        };
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
      tables.put(hostOffset, t);
    }
    return t;
  }

  int capacity() {
    return capacity;
  }

  synchronized int size() {
    return tables.size();
  }
}
