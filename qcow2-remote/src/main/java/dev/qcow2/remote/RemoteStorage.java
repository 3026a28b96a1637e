package dev.qcow2.remote;

import dev.qcow2.Storage;
import dev.qcow2.remote.BlockCache.Block;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * A read-only {@link Storage} over a {@link RangeSource}: the object is read in blocks of {@link
 * RemoteOptions#blockSize()} bytes, fetched when a read first needs them and kept in a bounded LRU
 * cache. A read that needs several missing blocks fetches them with one range request (up to {@link
 * #MAX_REQUEST} bytes). Readers that need a block already being fetched wait for that fetch instead
 * of sending their own. Each caller fetches what it misses in its own thread, so parallel callers
 * (the converter's and hasher's workers) have as many requests in flight; sequential scans are also
 * served ahead ({@link ReadAhead}), on a pool of {@link RemoteOptions#parallelRequests()} threads.
 *
 * <p>Memory stays bounded: the cache's blocks, plus the requests in flight.
 *
 * <p>Thread-safe. Closing the storage closes its source.
 */
public final class RemoteStorage implements Storage {
  /** The largest range one request asks for. */
  static final int MAX_REQUEST = 4 << 20;

  private final RangeSource source;
  private final long length;
  private final int blockShift;
  private final int blockSize;
  private final int maxRequestBlocks;
  private final BlockCache cache;
  private final ReadAhead readAhead;
  private final ThreadPoolExecutor prefetcher;

  private RemoteStorage(RangeSource source, long length, RemoteOptions options) {
    this.source = source;
    this.length = length;
    this.blockSize = options.blockSize();
    this.blockShift = Integer.numberOfTrailingZeros(blockSize);
    this.maxRequestBlocks = Math.max(1, MAX_REQUEST / blockSize);
    int blocks =
        (int)
            Math.min(
                Integer.MAX_VALUE,
                Math.max(4L * maxRequestBlocks, options.cacheSize() / blockSize));
    this.cache = new BlockCache(blocks, blockSize, 2 * maxRequestBlocks);
    // Read-ahead fills at most a quarter of the cache, so that it is read before it is evicted.
    long maxWindow = Math.min(options.readAhead(), (long) blocks * blockSize / 4);
    this.readAhead = new ReadAhead((int) (maxWindow / blockSize));
    this.prefetcher =
        new ThreadPoolExecutor(
            options.parallelRequests(),
            options.parallelRequests(),
            30,
            TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(),
            r -> {
              Thread t = new Thread(r, "remote-read-ahead");
              t.setDaemon(true);
              return t;
            });
    prefetcher.allowCoreThreadTimeOut(true);
  }

  /**
   * A storage over {@code source}, which it then owns; learns the object's length (first contact).
   */
  public static RemoteStorage open(RangeSource source, RemoteOptions options) throws IOException {
    try {
      return new RemoteStorage(source, source.length(), options);
    } catch (IOException | RuntimeException e) {
      try {
        source.close();
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  @Override
  public String name() {
    return source.name();
  }

  @Override
  public long size() {
    return length;
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    if (position < 0) {
      throw new IllegalArgumentException(name() + ": negative position " + position);
    }
    if (position >= length || !dst.hasRemaining()) {
      return 0;
    }
    int n = (int) Math.min(dst.remaining(), length - position);
    long first = position >>> blockShift;
    long last = (position + n - 1) >>> blockShift;
    List<Block> parts = claimAndFetch(first, last);
    try {
      long at = position;
      for (Block part : parts) {
        byte[] block = fetched(part);
        int offset = (int) (at & (blockSize - 1));
        // The array may be longer than the object's last block: n stops the copy at the end.
        int take = (int) Math.min(blockSize - offset, position + n - at);
        dst.put(block, offset, take);
        at += take;
      }
    } finally {
      for (Block part : parts) {
        cache.release(part);
      }
    }
    readAhead(last);
    return n;
  }

  /** Fetches ahead of a read that ended in block {@code last}, if it looks sequential. */
  private void readAhead(long last) {
    int window = readAhead.window(cache.runEndingAt(last, readAhead.longestRun()));
    long lastBlock = (length - 1) >>> blockShift;
    long end = Math.min(lastBlock, last + window);
    // Nothing to do while the first half of the window is there already: requests stay large.
    if (window == 0 || end <= last || cache.contains(Math.min(end, last + window / 2))) {
      return;
    }
    prefetch(last + 1, end);
  }

  /**
   * The futures of blocks {@code first..last}: the ones no one has yet are fetched here, in runs of
   * contiguous blocks, one request each; the others are being fetched or are cached already.
   */
  private List<Block> claimAndFetch(long first, long last) {
    List<Block> parts = new ArrayList<>((int) (last - first + 1));
    List<Run> mine = new ArrayList<>();
    Run run = null;
    for (long b = first; b <= last; b++) {
      Block fetch = new Block();
      Block theirs = cache.claim(b, fetch);
      if (theirs != null) {
        parts.add(theirs);
        continue;
      }
      parts.add(fetch);
      if (run == null || !run.continuesAt(b) || run.blocks.size() == maxRequestBlocks) {
        run = new Run(b, new ArrayList<>());
        mine.add(run);
      }
      run.blocks.add(fetch);
    }
    for (Run r : mine) {
      fetch(r, false);
    }
    return parts;
  }

  /**
   * Claims blocks {@code first..last} where no one has them, and fetches them in the background.
   */
  private void prefetch(long first, long last) {
    long b = first;
    while (b <= last && !prefetcher.isShutdown()) {
      Run run = new Run(b, new ArrayList<>());
      while (b <= last && run.blocks.size() < maxRequestBlocks) {
        Block fetch = new Block();
        Block theirs = cache.claim(b, fetch);
        if (theirs != null) {
          cache.release(theirs);
          break;
        }
        run.blocks.add(fetch);
        b++;
      }
      if (run.blocks.isEmpty()) {
        b++; // cached or coming already
        continue;
      }
      try {
        prefetcher.execute(() -> fetch(run, true));
      } catch (RejectedExecutionException e) {
        fetch(run, true); // closed meanwhile: fails or completes here, never left pending
      }
    }
  }

  /**
   * A block's bytes once fetched; a failed fetch rethrows what {@link #fetch} caught, as it was.
   */
  private byte[] fetched(Block part) throws IOException {
    try {
      return part.bytes.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException(name() + ": reading interrupted");
    } catch (ExecutionException e) {
      Throwable cause = e.getCause(); // fetch fails its futures with nothing else
      if (cause instanceof IOException io) {
        throw io;
      }
      if (cause instanceof Error err) {
        throw err;
      }
      throw (RuntimeException) cause;
    }
  }

  /**
   * Fetches a run of blocks with one request, completing their futures or failing them all; a
   * prefetch then stops using them (a reader releases its blocks once it has copied them).
   */
  private void fetch(Run run, boolean release) {
    long start = run.first << blockShift;
    int bytes = (int) Math.min((long) run.blocks.size() << blockShift, length - start);
    ByteBuffer[] blocks = new ByteBuffer[run.blocks.size()];
    try {
      // One request, its body scattered straight into the blocks' own arrays.
      for (int i = 0; i < blocks.length; i++) {
        blocks[i] =
            ByteBuffer.wrap(cache.array(), 0, Math.min(blockSize, bytes - (i << blockShift)));
      }
      source.read(blocks, start);
      for (int i = 0; i < blocks.length; i++) {
        run.blocks.get(i).bytes.complete(blocks[i].array());
      }
    } catch (IOException | RuntimeException | Error e) {
      for (int i = 0; i < run.blocks.size(); i++) {
        if (blocks[i] != null) {
          cache.recycle(blocks[i].array());
        }
        cache.remove(run.first + i, run.blocks.get(i));
        run.blocks.get(i).bytes.completeExceptionally(e);
      }
    } finally {
      if (release) {
        for (Block b : run.blocks) {
          cache.release(b);
        }
      }
    }
  }

  /** Contiguous blocks from {@code first}, claimed by one fetch: the futures of their bytes. */
  private record Run(long first, List<Block> blocks) {
    boolean continuesAt(long block) {
      return block == first + blocks.size();
    }
  }

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    throw readOnly();
  }

  @Override
  public void force() {
    // Nothing is ever written.
  }

  @Override
  public void truncate(long size) throws IOException {
    throw readOnly();
  }

  private IOException readOnly() {
    return new IOException(name() + ": a remote object is read-only");
  }

  @Override
  public boolean isReadOnly() {
    return true;
  }

  @Override
  public void close() throws IOException {
    prefetcher.shutdown();
    source.close();
  }

  @Override
  public String toString() {
    return "RemoteStorage["
        + name()
        + ", "
        + length
        + " bytes, "
        + cache.size()
        + " blocks cached]";
  }
}
