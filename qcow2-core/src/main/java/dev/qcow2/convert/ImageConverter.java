package dev.qcow2.convert;

import dev.qcow2.BlockStatus;
import dev.qcow2.ClusterCompressor;
import dev.qcow2.CompressedCluster;
import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.parallel.Workers;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.LongConsumer;

/**
 * Converts images: any image to a sparse raw file or to a new qcow2 image.
 *
 * <p>Both conversions split the disk into fixed chunks. A worker asks the source for block status
 * first, so runs that read as zeros are never read; everything else is read, decompressing on
 * that worker's thread, and scanned for zero blocks, which are not written. For a raw target each
 * worker writes its own chunks with positional writes (measured faster than one writer). For a
 * qcow2 target one writer takes the chunks in guest order, so the image's clusters lie in order.
 */
public final class ImageConverter {
  /**
   * Work unit of one worker: large enough to amortise the per-chunk lookups, small enough to stay
   * in the processor's cache between the read and the write (512 KiB measured faster than 2 MiB).
   */
  static final int CHUNK_SIZE = 512 << 10;

  /**
   * Work unit for a qcow2 target, where one writer takes every chunk from the workers: twice the
   * raw one, so that half as many hand-overs between threads cost less than the cache misses
   * (measured raw -> qcow2 of 1.6 GiB: 0.45 s against 0.47 s with 512 KiB; 2 MiB no better).
   */
  static final int QCOW2_CHUNK_SIZE = 1 << 20;

  private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(1 << 16);

  private ImageConverter() {}

  /**
   * Writes the virtual disk of {@code source} to {@code target} as a sparse raw file: holes
   * wherever a 4 KiB block of the disk reads zeros. Reading, decompression and writing run on
   * {@code threads} threads.
   *
   * @param progress called with the number of guest bytes done so far (from any thread, never
   *     concurrently); may be null
   */
  public static void toRaw(DiskImage source, Path target, int threads, LongConsumer progress)
      throws IOException {
    convert(source, target, ConvertOptions.builder().threads(threads).progress(progress).build());
  }

  /**
   * Converts {@code source} (with its backing chain) into {@code target} as {@code options} say:
   * qemu-img convert's job.
   */
  public static void convert(DiskImage source, Path target, ConvertOptions options) throws IOException {
    if ("raw".equals(options.targetFormat())) {
      rawTarget(source, target, options);
    } else {
      qcow2Target(source, target, options);
    }
  }

  private static void rawTarget(DiskImage source, Path target, ConvertOptions o) throws IOException {
    long size = source.size();
    LongConsumer progress = o.progress();
    int zeroBlock = (int) Math.min(CHUNK_SIZE, o.minSparse());
    // With -n the old bytes stay unless the target is known to read zeros: write the zeros too.
    boolean writeZeros = zeroBlock == 0 || (o.noCreate() && !o.targetIsZero());
    try (RandomAccessFile file = new RandomAccessFile(target.toFile(), "rw")) {
      if (!o.noCreate()) {
        // Cut first so that no old byte survives where the new disk has a hole.
        file.setLength(0);
        file.setLength(size);
      } else if (java.nio.file.Files.isRegularFile(target) && file.length() < size) {
        throw new IllegalArgumentException(target + ": the target is smaller than the source ("
            + file.length() + " < " + size + " bytes)");
      }
      FileChannel out = file.getChannel();
      long chunks = (size + CHUNK_SIZE - 1) / CHUNK_SIZE;
      AtomicLong nextChunk = new AtomicLong();
      AtomicLong done = new AtomicLong();
      AtomicBoolean failed = new AtomicBoolean();
      int workers = (int) Math.max(1, Math.min(o.threads(), chunks));
      ExecutorService pool = Executors.newFixedThreadPool(workers, Workers.named("qcow2-convert"));
      try {
        List<Future<Void>> futures = new ArrayList<>();
        for (int i = 0; i < workers; i++) {
          futures.add(
              pool.submit(
                  () -> {
                    ByteBuffer buffer = ByteBuffer.allocateDirect(CHUNK_SIZE);
                    long chunk;
                    while (!failed.get() && (chunk = nextChunk.getAndIncrement()) < chunks) {
                      long start = chunk * CHUNK_SIZE;
                      int length = (int) Math.min(CHUNK_SIZE, size - start);
                      try {
                        if (writeZeros) {
                          buffer.clear().limit(length);
                          source.readFully(buffer, start);
                          writeSparse(out, buffer, length, start, 0);
                        } else {
                          copyChunk(source, out, buffer, start, length, zeroBlock);
                        }
                      } catch (IOException | RuntimeException e) {
                        failed.set(true);
                        throw e;
                      }
                      long now = done.addAndGet(length);
                      if (progress != null) {
                        synchronized (progress) {
                          progress.accept(now);
                        }
                      }
                    }
                    return null;
                  }));
        }
        for (Future<Void> f : futures) {
          await(f);
        }
      } finally {
        // Not shutdownNow: an interrupt in the middle of a read closes the source's channel.
        failed.set(true);
        Workers.stop(pool);
      }
    }
  }

  /**
   * Writes the virtual disk of {@code source} into a new qcow2 image made with {@code options}
   * (whose size is taken from the source). Reading and decompression run ahead on {@code threads}
   * threads; one writer stores the chunks in guest order, so the target's clusters lie in order.
   * Clusters that read as zeros are not written: a new image reads zeros there already.
   */
  public static void toQcow2(DiskImage source, Path target, CreateOptions options, int threads, LongConsumer progress)
      throws IOException {
    convert(source, target, ConvertOptions.builder().targetFormat("qcow2").createOptions(options)
        .threads(threads).progress(progress).build());
  }

  /** What the writer does with one cluster of a chunk. */
  private static final byte SKIP = 0;
  private static final byte DATA = 1;
  private static final byte ZERO = 2;
  private static final byte PACKED = 3;

  /**
   * A chunk made ready by a worker: its bytes, the action for each of its clusters, and the
   * compressed form of the clusters whose action is {@link #PACKED}.
   */
  private record Work(long start, int length, ByteBuffer data, byte[] actions, CompressedCluster[] packed) {}

  /** What every worker shares for one qcow2 conversion. */
  private record Plan(DiskImage source, DiskImage base, int clusterSize, boolean compress,
      boolean explicitZeros, boolean writeZeroClusters, Qcow2Image out) {}

  /**
   * The qcow2 target: workers read, compare with the backing file (-B), scan for zeros and
   * compress, a bounded window ahead; the calling thread alone writes, in guest order or, with
   * out-of-order writes, in the order chunks are ready.
   */
  private static void qcow2Target(DiskImage source, Path target, ConvertOptions o) throws IOException {
    long size = source.size();
    Qcow2Image out;
    if (o.noCreate()) {
      out = Qcow2Image.open(target, OpenOptions.builder().writable(true).build());
      if (out.size() < size) {
        long has = out.size();
        out.close();
        throw new IllegalArgumentException(target + ": the target is smaller than the source ("
            + has + " < " + size + " bytes)");
      }
    } else {
      CreateOptions.Builder b = (o.createOptions() != null ? o.createOptions().toBuilder() : CreateOptions.builder(0))
          .size((size + 511) & ~511L);
      if (o.backingFile() != null) {
        String format = o.backingFormat();
        if (format == null) {
          Path p = Path.of(o.backingFile());
          Path dir = target.toAbsolutePath().getParent();
          format = DiskImage.isQcow2(p.isAbsolute() || dir == null ? p : dir.resolve(p)) ? "qcow2" : "raw";
        }
        b.backingFile(o.backingFile(), format);
      }
      out = Qcow2Image.create(target, b.build());
    }
    try (out) {
      DiskImage base = o.backingFile() != null ? out.backing() : null;
      // An existing target keeps its old content where nothing is written: write the zeros too.
      boolean explicitZeros = o.noCreate() && !o.targetIsZero();
      Plan plan = new Plan(source, base, out.clusterSize(), o.compress(), explicitZeros, o.minSparse() == 0, out);
      run(plan, o);
      out.flush();
    }
  }

  /**
   * How far, in chunks, workers may run ahead of the writer. Only chunks that hold data keep a
   * buffer (there are {@code 2 * threads + 2} buffers); a chunk that needs none (a hole, zeros, data
   * equal to the backing file's) gives its buffer back at once. So while the writer is busy with
   * data, the workers get through the holes that follow, instead of leaving the writer idle when
   * it reaches them (raw sources are read whole: the JDK cannot ask where their holes are).
   */
  private static final int LEAD_CHUNKS = 1024;

  /** How long a blocked worker waits before it looks again whether the conversion has failed. */
  private static final long RECHECK_MILLIS = 20;

  /** What one worker owns: made by the calling thread, so that making it cannot fail in a worker. */
  private record WorkerState(ClusterCompressor compressor, ByteBuffer baseBuffer, ByteBuffer lastCluster,
      ByteBuffer scratch) {}

  /**
   * Workers claim chunks in guest order, each together with a buffer, so that the chunk the writer
   * waits for always has one; they read, compare, scan and compress it. The calling thread alone
   * writes: in guest order, or with out-of-order writes in the order chunks are ready.
   *
   * <p>Workers are never interrupted: an interrupt in the middle of a read would close the
   * caller's source channel. On failure they see {@code failed} within {@link #RECHECK_MILLIS},
   * and the writer waits until they have all stopped before it returns or throws.
   */
  private static void run(Plan plan, ConvertOptions o) throws IOException {
    DiskImage source = plan.source();
    // The writer is a thread too. Where the workers only read and scan (a raw source, nothing to
    // compress) it is the one that limits, and a worker on every core takes time from it
    // (measured on 2 cores, raw -> qcow2 of 1.7 GB: 498 ms with one worker, 511 ms with two).
    int threads = !plan.compress() && "raw".equals(source.format()) ? Math.max(1, o.threads() - 1) : o.threads();
    int chunkSize = Math.max(QCOW2_CHUNK_SIZE, plan.clusterSize());
    // Zeros of a raw source are found ahead in the workers' idle time (see HoleProbe); not where
    // clusters are compared with a backing file or zeros are written as data.
    HoleProbe probe = "raw".equals(source.format()) && plan.base() == null && !plan.writeZeroClusters()
        ? new HoleProbe(source, chunkSize) : null;
    List<WorkerState> states = new ArrayList<>();
    try {
      for (int t = 0; t < threads; t++) {
        ClusterCompressor compressor = plan.compress() ? plan.out().newCompressor() : null;
        states.add(new WorkerState(compressor,
            plan.base() != null ? ByteBuffer.allocateDirect(chunkSize) : null,
            plan.compress() ? ByteBuffer.allocateDirect(plan.clusterSize()) : null,
            probe != null ? ByteBuffer.allocateDirect(HoleProbe.PIECE) : null));
      }
      Pipeline pipeline = new Pipeline(plan, chunkSize, 2 * threads + 2, o.outOfOrder(), probe);
      ExecutorService pool = Executors.newFixedThreadPool(threads, Workers.named("qcow2-convert"));
      try {
        for (WorkerState state : states) {
          pool.execute(() -> pipeline.workGuarded(state));
        }
        pipeline.write(o.progress());
      } finally {
        pipeline.failed.set(true);
        Workers.stop(pool);
      }
    } finally {
      for (WorkerState state : states) {
        if (state.compressor() != null) {
          state.compressor().close();
        }
      }
    }
  }

  /** What the workers and the writer of one qcow2 conversion share. */
  private static final class Pipeline {
    final Plan plan;
    final long size;
    final int chunkSize;
    final long chunks;
    final int lead;
    final HoleProbe probe;
    /** The buffers; a chunk holding plain or compressed data keeps one until it is stored. */
    final BlockingQueue<ByteBuffer> free;
    /** At most {@code lead} chunks claimed and not yet stored. */
    final Semaphore leadPermits;
    /**
     * In guest order: chunk c's result in slot c % lead (a chunk is claimed only once the one lead
     * chunks before it has been stored and its slot cleared).
     */
    final AtomicReferenceArray<CompletableFuture<Work>> slots;
    /** Out of order: results as they are ready; null in guest order. */
    final BlockingQueue<CompletableFuture<Work>> ready;
    /** Completed with the error of a worker that died outside a chunk's work. */
    final CompletableFuture<Work> abort = new CompletableFuture<>();
    final Object claim = new Object();
    final AtomicLong nextChunk = new AtomicLong();
    final AtomicLong stored = new AtomicLong();
    final AtomicBoolean failed = new AtomicBoolean();

    Pipeline(Plan plan, int chunkSize, int window, boolean outOfOrder, HoleProbe probe) {
      this.plan = plan;
      this.size = plan.source().size();
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

    /** The writer, on the calling thread: stores every chunk once, in guest or in ready order. */
    void write(LongConsumer progress) throws IOException {
      long done = 0;
      for (long written = 0; written < chunks; written++) {
        Work w;
        if (ready != null) {
          w = await(take(ready));
        } else {
          int i = (int) (written % lead);
          w = awaitEither(slot(slots, i), abort);
          slots.set(i, null);
        }
        store(plan, w);
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
    void workGuarded(WorkerState state) {
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

    /** One worker: claims chunks and prepares them until there are none left or the conversion failed. */
    private void work(WorkerState state) throws InterruptedException {
      boolean probing = probe != null;
      while (!failed.get()) {
        ByteBuffer buffer = free.poll();
        boolean more = true;
        while (buffer == null && probing && more && !failed.get()) {
          try {
            more = probe.probeNext(nextChunk.get(), stored.get() + lead, state.scratch());
          } catch (IOException | RuntimeException e) {
            // The chunk's own read will meet this again and report it.
            probing = false;
          }
          buffer = free.poll();
        }
        while (buffer == null) {
          if (failed.get()) {
            return;
          }
          buffer = free.poll(RECHECK_MILLIS, TimeUnit.MILLISECONDS);
        }
        long chunk = claim(buffer);
        if (chunk < 0) {
          return;
        }
        CompletableFuture<Work> result = ready != null ? new CompletableFuture<>() : slot(slots, (int) (chunk % lead));
        long start = chunk * chunkSize;
        int length = (int) Math.min(chunkSize, size - start);
        try {
          Work w = probe != null && probe.takeZero(chunk)
              ? zeroWork(plan, start, length)
              : prepare(plan, buffer, start, length, state.compressor(), state.baseBuffer(), state.lastCluster());
          if (!holdsData(w)) {
            w = new Work(w.start(), w.length(), null, w.actions(), w.packed());
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

    /**
     * Claims the next chunk for a worker holding {@code buffer}, in guest order; -1 (the buffer
     * given back) when there is none left or the conversion failed.
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
  }

  /** The result of {@code next}, or the failure of {@code abort} if that comes first. */
  private static Work awaitEither(CompletableFuture<Work> next, CompletableFuture<Work> abort) throws IOException {
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
    return await(next.isDone() ? next : abort);
  }

  /** The future of the chunk whose slot is {@code i}, made by whichever of worker and writer comes first. */
  private static CompletableFuture<Work> slot(
      AtomicReferenceArray<CompletableFuture<Work>> slots, int i) {
    return slots.updateAndGet(i, f -> f != null ? f : new CompletableFuture<>());
  }

  /** The work of a chunk known to read as zeros: what {@link #prepare} decides for such a chunk. */
  private static Work zeroWork(Plan plan, long start, int length) {
    int cs = plan.clusterSize();
    byte[] actions = new byte[(length + cs - 1) / cs];
    java.util.Arrays.fill(actions, plan.explicitZeros() ? ZERO : SKIP);
    return new Work(start, length, null, actions, plan.compress() ? new CompressedCluster[actions.length] : null);
  }

  /**
   * Whether {@code w} keeps its buffer until stored: plain data is written from it, and compressed
   * clusters keep it too, so that the compressed bytes waiting for the writer stay bounded by the
   * buffers.
   */
  private static boolean holdsData(Work w) {
    for (byte action : w.actions()) {
      if (action == DATA || action == PACKED) {
        return true;
      }
    }
    return false;
  }

  private static <T> T take(BlockingQueue<T> queue) throws IOException {
    try {
      return queue.take();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("conversion interrupted");
    }
  }

  /**
   * A worker's part for one chunk: read it (runs the source reports as zeros are not read),
   * decide each cluster's action, and compress the clusters to store compressed.
   */
  private static Work prepare(Plan plan, ByteBuffer buffer, long start, int length,
      ClusterCompressor compressor, ByteBuffer baseBuffer, ByteBuffer lastCluster) throws IOException {
    int cs = plan.clusterSize();
    int clusters = (length + cs - 1) / cs;
    byte[] actions = new byte[clusters];
    CompressedCluster[] packed = plan.compress() ? new CompressedCluster[clusters] : null;
    buffer.clear().limit(length);
    java.util.BitSet maybeData = read(plan.source(), buffer, start, length, cs);
    java.util.BitSet baseData = null;
    DiskImage base = plan.base();
    if (base != null) {
      long baseEnd = Math.min(start + length, base.size());
      baseBuffer.clear().limit(length);
      baseData = start < baseEnd
          ? read(base, baseBuffer.slice(0, (int) (baseEnd - start)), start, (int) (baseEnd - start), cs)
          : new java.util.BitSet();
      if (baseEnd < start + length) {
        fillZeros(baseBuffer.slice((int) Math.max(0, baseEnd - start), (int) (start + length - Math.max(start, baseEnd))));
      }
    }
    for (int i = 0; i < clusters; i++) {
      int from = i * cs;
      int to = Math.min(length, from + cs);
      boolean zero = !maybeData.get(i) || isZero(buffer, from, to);
      byte action;
      if (base != null) {
        boolean same = !maybeData.get(i) && !baseData.get(i)
            || buffer.slice(from, to - from).mismatch(baseBuffer.slice(from, to - from)) < 0;
        action = same ? SKIP : zero ? ZERO : DATA;
      } else if (zero) {
        action = plan.writeZeroClusters() ? DATA : plan.explicitZeros() ? ZERO : SKIP;
      } else {
        action = DATA;
      }
      if (action == DATA && plan.compress()) {
        ByteBuffer cluster = buffer.slice(from, to - from);
        if (to - from < cs) {
          // The disk's last cluster is padded with zeros, as qemu does.
          lastCluster.clear();
          lastCluster.put(cluster);
          fillZeros(lastCluster);
          cluster = lastCluster.flip();
        }
        CompressedCluster c = compressor.compressCluster(cluster);
        if (c != null) {
          packed[i] = c;
          action = PACKED;
        }
      }
      actions[i] = action;
    }
    buffer.position(0).limit(length);
    return new Work(start, length, buffer, actions, packed);
  }

  /**
   * Reads [start, start + length) of {@code image} into {@code buffer}; runs the image reports as
   * zeros are filled, not read. Returns the clusters (of {@code cs} bytes) that may hold data.
   */
  private static java.util.BitSet read(DiskImage image, ByteBuffer buffer, long start, int length, int cs)
      throws IOException {
    java.util.BitSet maybeData = new java.util.BitSet((length + cs - 1) / cs);
    long at = start;
    while (at < start + length) {
      BlockStatus status = image.blockStatus(at, start + length - at);
      int n = (int) status.length();
      int from = (int) (at - start);
      ByteBuffer part = buffer.slice(from, n);
      if (!status.data() && status.zero()) {
        fillZeros(part);
      } else {
        image.readFully(part, at);
        maybeData.set(from / cs, (from + n + cs - 1) / cs);
      }
      at += n;
    }
    return maybeData;
  }

  private static void fillZeros(ByteBuffer part) {
    while (part.hasRemaining()) {
      part.put(ZEROS.duplicate().limit(Math.min(part.remaining(), ZEROS.capacity())));
    }
  }

  /** The writer's part for one chunk, on the calling thread: runs of equal actions at a time. */
  private static void store(Plan plan, Work w) throws IOException {
    int cs = plan.clusterSize();
    Qcow2Image out = plan.out();
    byte[] actions = w.actions();
    int i = 0;
    while (i < actions.length) {
      byte action = actions[i];
      int j = i + 1;
      if (action != PACKED) {
        while (j < actions.length && actions[j] == action) {
          j++;
        }
      }
      int from = i * cs;
      int to = Math.min(w.length(), j * cs);
      long at = w.start() + from;
      switch (action) {
        case DATA -> out.write(w.data().duplicate().limit(to).position(from), at);
        case ZERO -> out.writeZeroes(at, to - from);
        case PACKED -> out.writeCompressed(w.packed()[i], at);
        default -> { }
      }
      i = j;
    }
  }

  private static <T> T await(Future<T> f) throws IOException {
    return Workers.await(f, "conversion");
  }

  /** Copies guest bytes [start, start + length) into the target, leaving zero blocks as holes. */
  private static void copyChunk(DiskImage source, FileChannel out, ByteBuffer buffer, long start, int length,
      int zeroBlock)
      throws IOException {
    long at = start;
    long end = start + length;
    while (at < end) {
      BlockStatus status = source.blockStatus(at, end - at);
      long runLength = status.length();
      if (!status.data() && status.zero()) {
        at += runLength;
        continue;
      }
      buffer.clear().limit((int) runLength);
      source.readFully(buffer, at);
      writeSparse(out, buffer, (int) runLength, at, zeroBlock);
      at += runLength;
    }
  }

  /**
   * Writes {@code buffer[0, length)} at {@code offset} of {@code out}, leaving out every all-zero
   * block of {@code zeroBlock} bytes (aligned on file offsets, so that holes fall on file-system
   * block boundaries); with {@code zeroBlock} 0, writes every byte. The sparse writer of raw
   * targets, here and in the tools' deploy.
   */
  public static void writeSparse(FileChannel out, ByteBuffer buffer, int length, long offset, int zeroBlock)
      throws IOException {
    int pos = 0;
    while (pos < length) {
      int dataEnd = length;
      if (zeroBlock > 0) {
        int blockEnd = (int) Math.min(length, pos + zeroBlock - ((offset + pos) % zeroBlock));
        if (isZero(buffer, pos, blockEnd)) {
          pos = blockEnd;
          continue;
        }
        dataEnd = blockEnd;
        while (dataEnd < length) {
          int next = Math.min(length, dataEnd + zeroBlock);
          if (isZero(buffer, dataEnd, next)) {
            break;
          }
          dataEnd = next;
        }
      }
      ByteBuffer slice = buffer.duplicate().limit(dataEnd).position(pos);
      long at = offset + pos;
      while (slice.hasRemaining()) {
        at += out.write(slice, at);
      }
      pos = dataEnd;
    }
  }

  /**
   * Whether b[from, to) is all zeros. Data nearly always shows a non-zero byte in its first word,
   * so that word is tested alone first: slicing for ByteBuffer.mismatch costs more than that.
   * The rest is compared with a zero buffer by mismatch, which the JDK vectorizes even under the
   * client compiler the command-line launchers use (measured per GiB, C1: a loop over longs
   * scans zeros in 0.49 s, mismatch in 0.06 s; mismatch alone spends 0.06 s on data that this
   * first test rejects in 0.01 s).
   */
  public static boolean isZero(ByteBuffer b, int from, int to) {
    if (to - from >= 8 && b.getLong(from) != 0) {
      return false;
    }
    int length = to - from;
    int at = 0;
    while (at < length) {
      int n = Math.min(length - at, ZEROS.capacity());
      if (b.slice(from + at, n).mismatch(ZEROS.slice(0, n)) >= 0) {
        return false;
      }
      at += n;
    }
    return true;
  }

}
