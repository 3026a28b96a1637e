package dev.qcow2.remote;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * The blocks of a remote object held in memory, least recently used first out, each as the future
 * of its bytes: a block being fetched is in the cache already, so that a second reader of it waits
 * for the first fetch instead of sending its own. A block still being fetched is never evicted (the
 * map may pass its bound by the blocks in flight, which the callers bound).
 */
final class BlockCache {
  private final int maxBlocks;
  private final LinkedHashMap<Long, CompletableFuture<byte[]>> blocks;

  BlockCache(int maxBlocks) {
    this.maxBlocks = maxBlocks;
    this.blocks = new LinkedHashMap<>(16, 0.75f, true);
  }

  /**
   * The future of {@code block} if it is cached or being fetched; otherwise {@code fetch} is
   * entered for it and null returned, and the caller must complete {@code fetch}.
   */
  synchronized CompletableFuture<byte[]> claim(long block, CompletableFuture<byte[]> fetch) {
    CompletableFuture<byte[]> f = blocks.get(block);
    if (f != null) {
      return f;
    }
    blocks.put(block, fetch);
    evict();
    return null;
  }

  /** Whether {@code block} is cached or being fetched. */
  synchronized boolean contains(long block) {
    return blocks.containsKey(block);
  }

  /**
   * How many blocks in a row, ending with {@code block}, are cached or being fetched (at most
   * {@code max}); it does not count as a use of them.
   */
  synchronized int runEndingAt(long block, int max) {
    int n = 0;
    while (n < max && block - n >= 0 && blocks.containsKey(block - n)) {
      n++;
    }
    return n;
  }

  /** Forgets a failed fetch, so that a later read tries again. */
  synchronized void remove(long block, CompletableFuture<byte[]> fetch) {
    blocks.remove(block, fetch);
  }

  synchronized int size() {
    return blocks.size();
  }

  private void evict() {
    var it = blocks.entrySet().iterator();
    while (blocks.size() > maxBlocks && it.hasNext()) {
      Map.Entry<Long, CompletableFuture<byte[]>> e = it.next();
      if (e.getValue().isDone()) {
        it.remove();
      }
    }
  }
}
