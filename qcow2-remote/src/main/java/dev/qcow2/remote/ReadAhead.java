package dev.qcow2.remote;

/**
 * When to fetch ahead of a reader, and how far: judged from the cache rather than from who reads. A
 * read whose block ends a run of cached (or incoming) blocks at least {@link #MIN_RUN} long is
 * taken as part of a sequential scan, and the next blocks are fetched, twice the run's length
 * ahead, up to the limit. The parallel converter's workers read neighbouring chunks out of order;
 * together they still build one run, so they share one read-ahead. A random reader's block rarely
 * ends such a run (opening an image and mapping it fetch nothing ahead).
 */
final class ReadAhead {
  /** The run of blocks, the read's own included, that shows a sequential scan. */
  static final int MIN_RUN = 3;

  private final int maxBlocks;

  /**
   * @param maxBlocks the most blocks fetched ahead of a read (0: none)
   */
  ReadAhead(int maxBlocks) {
    this.maxBlocks = maxBlocks;
  }

  /**
   * The number of blocks to have cached or incoming after a read's last block, given the run of
   * cached blocks that ends with it; 0 for none.
   */
  int window(int run) {
    if (maxBlocks == 0 || run < MIN_RUN) {
      return 0;
    }
    return (int) Math.min(maxBlocks, 2L * run);
  }

  /** The longest run worth measuring: beyond it the window no longer grows. */
  int longestRun() {
    return Math.max(MIN_RUN, (maxBlocks + 1) / 2);
  }
}
