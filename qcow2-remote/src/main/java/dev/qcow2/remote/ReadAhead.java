package dev.qcow2.remote;

/**
 * Finds sequential readers among the reads of one object and says what to fetch ahead of them. A
 * read that starts at or a little past where a known stream of reads ended (or a little before:
 * compressed clusters share sectors) continues that stream, and each continuation doubles
 * the window fetched ahead of it, up to the limit. Several streams are followed at once, one per
 * worker of a parallel converter or hasher; the least recently used gives way to a new one.
 */
final class ReadAhead {
  private static final int STREAMS = 16;
  /** How far before a stream's end a read may start and still continue it. */
  private static final long OVERLAP = 4096;

  private final long gap;
  private final long minWindow;
  private final long maxWindow;
  private final long[] start = new long[STREAMS];
  private final long[] end = new long[STREAMS];
  private final long[] window = new long[STREAMS];
  private final long[] fetchedTo = new long[STREAMS];
  private final long[] used = new long[STREAMS];
  private long clock;

  /**
   * @param gap how far past a stream's end a read may start and still continue it
   * @param minWindow the first read-ahead of a stream
   * @param maxWindow the largest read-ahead (0: none)
   */
  ReadAhead(long gap, long minWindow, long maxWindow) {
    this.gap = gap;
    this.minWindow = Math.min(minWindow, maxWindow);
    this.maxWindow = maxWindow;
    java.util.Arrays.fill(end, -1);
  }

  /**
   * Records a read of {@code length} bytes at {@code position} and returns the byte range to fetch
   * ahead of it as {@code {from, to}} (to exclusive), or null if there is nothing to fetch.
   */
  synchronized long[] after(long position, long length) {
    long readEnd = position + length;
    clock++;
    for (int i = 0; i < STREAMS; i++) {
      // Moving forward from the stream's last read: starting past its start (a re-read from there
      // is no progress), no further back than a sector-rounded compressed cluster reaches.
      if (end[i] >= 0 && position > start[i] && position >= end[i] - OVERLAP && position <= end[i] + gap) {
        used[i] = clock;
        if (readEnd <= end[i]) {
          return null; // inside the last read: no progress
        }
        start[i] = position;
        end[i] = readEnd;
        window[i] = window[i] == 0 ? minWindow : Math.min(maxWindow, window[i] * 2);
        long target = readEnd + window[i];
        // Fetch in steps of half a window, so that requests stay large.
        if (window[i] == 0 || fetchedTo[i] >= readEnd + window[i] / 2) {
          return null;
        }
        long from = Math.max(fetchedTo[i], readEnd);
        fetchedTo[i] = target;
        return new long[] {from, target};
      }
    }
    int victim = 0;
    for (int i = 1; i < STREAMS; i++) {
      if (used[i] < used[victim]) {
        victim = i;
      }
    }
    start[victim] = position;
    end[victim] = readEnd;
    window[victim] = 0;
    fetchedTo[victim] = readEnd;
    used[victim] = clock;
    return null;
  }
}
