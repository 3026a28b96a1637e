package dev.qcow2.convert;

import dev.qcow2.ClusterCompressor;
import dev.qcow2.internal.parallel.Workers;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.LongConsumer;

/**
 * Workers claim chunks in guest order, each together with a buffer, so that the chunk the writer
 * waits for always has one; they read, compare, scan and compress it ({@link ChunkJob#prepare}).
 * The calling thread alone hands them to a {@link Sink}: in guest order, or with out-of-order
 * writes in the order chunks are ready. In guest order what the sink sees does not depend on the
 * number of threads.
 *
 * <p>Workers are never interrupted: an interrupt in the middle of a read would close the caller's
 * source channel. On failure they see {@code failed} within {@link #RECHECK_MILLIS}, and the writer
 * waits until they have all stopped before it returns or throws.
 */
final class ChunkPipeline {
  /**
   * Work unit for a qcow2 target, where one writer takes every chunk from the workers: twice the
   * raw one, so that half as many hand-overs between threads cost less than the cache misses
   * (measured raw -> qcow2 of 1.6 GiB: 0.45 s against 0.47 s with 512 KiB; 2 MiB no better).
   */
  static final int CHUNK_SIZE = 1 << 20;

  /**
   * How far, in chunks, workers may run ahead of the writer. Only chunks that hold data keep a
   * buffer (there are {@code 2 * threads + 2} buffers); a chunk that needs none (a hole, zeros,
   * data equal to the backing file's) gives its buffer back at once. So while the writer is busy
   * with data, the workers get through the holes that follow, instead of leaving the writer idle
   * when it reaches them (raw sources are read whole: the JDK cannot ask where their holes are).
   */
  private static final int LEAD_CHUNKS = 1024;

  /** How long a blocked worker waits before it looks again whether the conversion has failed. */
  private static final long RECHECK_MILLIS = 20;

  /** Where the writer puts each chunk's work, on the calling thread. */
  interface Sink {
    void store(ChunkWork work) throws IOException;
  }

  private final ChunkJob job;
  private final long size;
  private final int chunkSize;
  private final long chunks;
  private final int lead;
  private final HoleProbe probe;

  /** The buffers; a chunk holding plain or compressed data keeps one until it is stored. */
  private final BlockingQueue<ByteBuffer> free;

  /** At most {@code lead} chunks claimed and not yet stored. */
  private final Semaphore leadPermits;

  /**
   * In guest order: chunk c's result in slot c % lead (a chunk is claimed only once the one lead
   * chunks before it has been stored and its slot cleared).
   */
  private final AtomicReferenceArray<CompletableFuture<ChunkWork>> slots;

  /** Out of order: results as they are ready; null in guest order. */
  private final BlockingQueue<CompletableFuture<ChunkWork>> ready;

  /** Completed with the error of a worker that died outside a chunk's work. */
  private final CompletableFuture<ChunkWork> abort = new CompletableFuture<>();

  private final Object claim = new Object();
  private final AtomicLong nextChunk = new AtomicLong();
  private final AtomicLong stored = new AtomicLong();
  private final AtomicBoolean failed = new AtomicBoolean();

  private ChunkPipeline(
      ChunkJob job, int chunkSize, int window, boolean outOfOrder, HoleProbe probe) {
    this.job = job;
    this.size = job.source().size();
    this.chunkSize = chunkSize;
    this.chunks = (size + chunkSize - 1) / chunkSize;
    this.lead = (int) Math.max(1, Math.min(chunks, Math.max(window, LEAD_CHUNKS)));
    this.probe = probe;
    this.free = new ArrayBlockingQueue<>(window);
    for (int i = 0; i < window; i++) {
      free.add(ByteBuffer.allocateDirect(chunkSize));
    }
    this.leadPermits = new Semaphore(lead);
    this.slots = new AtomicReferenceArray<>(lead);
    this.ready = outOfOrder ? new LinkedBlockingQueue<>() : null;
  }

  /**
   * Runs {@code job} on {@code threads} workers, handing every chunk's work to {@code sink} on the
   * calling thread, in guest order unless {@code outOfOrder}.
   *
   * @param progress called with the guest bytes done so far, on the calling thread; may be null
   */
  static void run(ChunkJob job, int threads, boolean outOfOrder, LongConsumer progress, Sink sink)
      throws IOException {
    // The writer is a thread too. Where the workers only read and scan (a raw source, nothing to
    // compress) it is the one that limits, and a worker on every core takes time from it
    // (measured on 2 cores, raw -> qcow2 of 1.7 GB: 498 ms with one worker, 511 ms with two).
    boolean rawSource = "raw".equals(job.source().format());
    int workers = !job.compress() && rawSource ? Math.max(1, threads - 1) : threads;
    int chunkSize = Math.max(CHUNK_SIZE, job.clusterSize());
    // Zeros of a raw source are found ahead in the workers' idle time (see HoleProbe); not where
    // clusters are compared with a backing file or zeros are written as data.
    HoleProbe probe =
        rawSource && job.base() == null && !job.writeZeroClusters()
            ? new HoleProbe(job.source(), chunkSize)
            : null;
    List<ChunkJob.WorkerState> states = new ArrayList<>();
    try {
      for (int t = 0; t < workers; t++) {
        states.add(
            new ChunkJob.WorkerState(
                job.compress() ? job.compressors().get() : null,
                job.base() != null ? ByteBuffer.allocateDirect(chunkSize) : null,
                job.compress() ? ByteBuffer.allocateDirect(job.clusterSize()) : null,
                probe != null ? ByteBuffer.allocateDirect(HoleProbe.PIECE) : null));
      }
      ChunkPipeline pipeline =
          new ChunkPipeline(job, chunkSize, 2 * workers + 2, outOfOrder, probe);
      ExecutorService pool = Executors.newFixedThreadPool(workers, Workers.named("qcow2-convert"));
      try {
        for (ChunkJob.WorkerState state : states) {
          pool.execute(() -> pipeline.workGuarded(state));
        }
        pipeline.write(progress, sink);
      } finally {
        pipeline.failed.set(true);
        Workers.stop(pool);
      }
    } finally {
      for (ChunkJob.WorkerState state : states) {
        ClusterCompressor compressor = state.compressor();
        if (compressor != null) {
          compressor.close();
        }
      }
    }
  }

  /** The writer, on the calling thread: stores every chunk once, in guest or in ready order. */
  private void write(LongConsumer progress, Sink sink) throws IOException {
    long done = 0;
    for (long written = 0; written < chunks; written++) {
      ChunkWork w;
      if (ready != null) {
        w = Workers.await(take(ready), "conversion");
      } else {
        int i = (int) (written % lead);
        w = awaitEither(slot(i), abort);
        slots.set(i, null);
      }
      sink.store(w);
      if (w.data() != null) {
        free.add(w.data());
      }
      stored.incrementAndGet();
      leadPermits.release();
      done += w.length();
      if (progress != null) {
        progress.accept(done);
      }
    }
  }

  /** A worker's thread: {@link #work}, its death outside a chunk failing the conversion. */
  private void workGuarded(ChunkJob.WorkerState state) {
    try {
      work(state);
    } catch (Throwable e) {
      failed.set(true);
      abort.completeExceptionally(e);
      if (ready != null) {
        ready.add(abort);
      }
    }
  }

  /**
   * One worker: claims chunks and prepares them until there are none left or the conversion failed.
   */
  private void work(ChunkJob.WorkerState state) throws InterruptedException {
    // A probe that fails once is not tried again: the chunk's own read will report the failure.
    boolean[] probing = {probe != null};
    while (!failed.get()) {
      ByteBuffer buffer = takeBuffer(state, probing);
      if (buffer == null) {
        return;
      }
      long chunk = claim(buffer);
      if (chunk < 0) {
        return;
      }
      CompletableFuture<ChunkWork> result =
          ready != null ? new CompletableFuture<>() : slot((int) (chunk % lead));
      long start = chunk * chunkSize;
      int length = (int) Math.min(chunkSize, size - start);
      try {
        boolean hole =
            probe != null && probe.takeZero(chunk)
                || job.holes() != null && job.holes().isHole(start, length);
        ChunkWork w =
            hole ? ChunkWork.zeros(job, start, length) : job.prepare(buffer, start, length, state);
        if (!w.holdsData()) {
          w = w.withoutData();
          free.add(buffer);
          buffer = null;
        }
        result.complete(w);
      } catch (Throwable e) {
        failed.set(true);
        if (buffer != null) {
          free.add(buffer);
        }
        result.completeExceptionally(e);
      }
      if (ready != null) {
        ready.add(result);
      }
    }
  }

  /** A free buffer, probing for holes while there is none; null once the conversion failed. */
  private ByteBuffer takeBuffer(ChunkJob.WorkerState state, boolean[] probing)
      throws InterruptedException {
    ByteBuffer buffer = free.poll();
    boolean more = true;
    while (buffer == null && probing[0] && more && !failed.get()) {
      try {
        more = probe.probeNext(nextChunk.get(), stored.get() + lead, state.scratch());
      } catch (IOException | RuntimeException e) {
        probing[0] = false;
      }
      buffer = free.poll();
    }
    while (buffer == null) {
      if (failed.get()) {
        return null;
      }
      buffer = free.poll(RECHECK_MILLIS, TimeUnit.MILLISECONDS);
    }
    return buffer;
  }

  /**
   * Claims the next chunk for a worker holding {@code buffer}, in guest order; -1 (the buffer given
   * back) when there is none left or the conversion failed.
   */
  private long claim(ByteBuffer buffer) throws InterruptedException {
    synchronized (claim) {
      if (failed.get() || nextChunk.get() >= chunks) {
        free.add(buffer);
        return -1;
      }
      while (!leadPermits.tryAcquire(RECHECK_MILLIS, TimeUnit.MILLISECONDS)) {
        if (failed.get()) {
          free.add(buffer);
          return -1;
        }
      }
      return nextChunk.getAndIncrement();
    }
  }

  /**
   * The future of the chunk whose slot is {@code i}, made by whichever of worker and writer comes
   * first.
   */
  private CompletableFuture<ChunkWork> slot(int i) {
    return slots.updateAndGet(i, f -> f != null ? f : new CompletableFuture<>());
  }

  /** The result of {@code next}, or the failure of {@code abort} if that comes first. */
  private static ChunkWork awaitEither(
      CompletableFuture<ChunkWork> next, CompletableFuture<ChunkWork> abort) throws IOException {
    if (!next.isDone()) {
      try {
        CompletableFuture.anyOf(next, abort).get();
      } catch (ExecutionException e) {
        // Whichever failed is rethrown below, as it was.
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("conversion interrupted");
      }
    }
    return Workers.await(next.isDone() ? next : abort, "conversion");
  }

  private static <T> T take(BlockingQueue<T> queue) throws IOException {
    try {
      return queue.take();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("conversion interrupted");
    }
  }
}
