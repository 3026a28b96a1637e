package dev.qcow2.remote;

import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * The blocks of a remote object held in memory, least recently used first out, each as the future
 * of its bytes: a block being fetched is in the cache already, so that a second reader of it waits
 * for the first fetch instead of sending its own. A block still being fetched is never evicted (the
 * map may pass its bound by the blocks in flight, which the callers bound).
 *
 * <p>The arrays of evicted blocks are used again for the next fetches. A sequential scan of a large
 * object otherwise allocates its whole length in blocks that live as long as the cache holds them:
 * every young collection then copies the cache's worth of them into the old generation (measured: a
 * third of a second of pauses, and twice that in host page faults, for a 603 MiB image). To know
 * when an array is free, a block counts its users: the cache while it holds the block, and each
 * reader or fetcher from its {@link #claim} to its {@link #release}.
 */
final class BlockCache {
  /** A block of the object: the future of its array, and how many still use that array. */
  static final class Block {
    final CompletableFuture<byte[]> bytes = new CompletableFuture<>();
    private int users; // guarded by the cache's lock

    /** A block whose bytes are already there (tests). */
    static Block of(byte[] bytes) {
      Block b = new Block();
      b.bytes.complete(bytes);
      return b;
    }
  }

  private final int maxBlocks;
  private final int blockSize;
  private final LinkedHashMap<Long, Block> blocks;
  // Enough for the largest request: a scan's evictions keep it filled without pinning more memory.
  private final ArrayDeque<byte[]> free = new ArrayDeque<>();
  private final int maxFree;

  BlockCache(int maxBlocks, int blockSize, int maxFree) {
    this.maxBlocks = maxBlocks;
    this.blockSize = blockSize;
    this.maxFree = maxFree;
    this.blocks = new LinkedHashMap<>(16, 0.75f, true);
  }

  /**
   * The block at {@code index} if it is cached or being fetched, in use by the caller until it
   * {@linkplain #release releases} it; otherwise {@code fresh} is entered for it, in use by the
   * caller, who must complete its bytes (or {@linkplain #remove remove} it), and null returned.
   */
  synchronized Block claim(long index, Block fresh) {
    Block b = blocks.get(index);
    if (b != null) {
      b.users++;
      return b;
    }
    fresh.users = 2; // the cache and the caller
    blocks.put(index, fresh);
    evict();
    return null;
  }

  /** The caller no longer uses {@code b}'s array; the last user gives it back for new fetches. */
  synchronized void release(Block b) {
    if (--b.users == 0 && b.bytes.isDone() && !b.bytes.isCompletedExceptionally()) {
      recycle(b.bytes.join());
    }
  }

  /** An array of one block for a fetch: a recycled one if there is one. */
  synchronized byte[] array() {
    byte[] a = free.poll();
    return a != null ? a : new byte[blockSize];
  }

  /** Gives back an array no block holds (the arrays of a failed fetch). */
  synchronized void recycle(byte[] array) {
    if (array.length == blockSize && free.size() < maxFree) {
      free.push(array);
    }
  }

  /** Whether {@code index} is cached or being fetched. */
  synchronized boolean contains(long index) {
    return blocks.containsKey(index);
  }

  /**
   * How many blocks in a row, ending with {@code index}, are cached or being fetched (at most
   * {@code max}); it does not count as a use of them.
   */
  synchronized int runEndingAt(long index, int max) {
    int n = 0;
    while (n < max && index - n >= 0 && blocks.containsKey(index - n)) {
      n++;
    }
    return n;
  }

  /** Forgets a failed fetch, so that a later read tries again. */
  synchronized void remove(long index, Block b) {
    if (blocks.remove(index, b)) {
      release(b);
    }
  }

  synchronized int size() {
    return blocks.size();
  }

  synchronized int freeArrays() {
    return free.size();
  }

  private void evict() {
    var it = blocks.entrySet().iterator();
    while (blocks.size() > maxBlocks && it.hasNext()) {
      Map.Entry<Long, Block> e = it.next();
      if (e.getValue().bytes.isDone()) {
        it.remove();
        release(e.getValue());
      }
    }
  }
}
