package dev.qcow2.convert;

import dev.qcow2.BlockStatus;
import dev.qcow2.CreateOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.DiskImage;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

/**
 * Converts images. For now: any image to a sparse raw file.
 *
 * <p>The raw conversion splits the disk into fixed chunks that worker threads claim in order. Each
 * worker asks the source for block status first, so runs that read as zeros are never read;
 * everything else is read (decompressing on that worker's thread), scanned for zero blocks, and
 * written with positional writes. Zero blocks are left as holes of the sparse target, so the
 * target reads the same and takes no space for them.
 */
public final class ImageConverter {
  /** Work unit of one worker; large enough to amortise the per-chunk lookups. */
  static final int CHUNK_SIZE = 2 << 20;
  /** The smallest zero run left as a hole, as qemu-img's default -S 4k. */
  static final int ZERO_BLOCK = 4096;

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
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be at least 1: " + threads);
    }
    long size = source.size();
    try (RandomAccessFile file = new RandomAccessFile(target.toFile(), "rw")) {
      // Cut first so that no old byte survives where the new disk has a hole.
      file.setLength(0);
      file.setLength(size);
      FileChannel out = file.getChannel();
      long chunks = (size + CHUNK_SIZE - 1) / CHUNK_SIZE;
      AtomicLong nextChunk = new AtomicLong();
      AtomicLong done = new AtomicLong();
      AtomicBoolean failed = new AtomicBoolean();
      int workers = (int) Math.max(1, Math.min(threads, chunks));
      ExecutorService pool = Executors.newFixedThreadPool(workers, namedThreads("qcow2-convert"));
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
                        copyChunk(source, out, buffer, start, length);
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
        pool.shutdownNow();
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
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be at least 1: " + threads);
    }
    long size = source.size();
    CreateOptions sized = options.toBuilder().size(size).build();
    int clusterSize = sized.clusterSize();
    int chunkSize = Math.max(CHUNK_SIZE, clusterSize);
    long chunks = (size + chunkSize - 1) / chunkSize;
    int window = 2 * threads + 2;
    ExecutorService pool = Executors.newFixedThreadPool(threads, namedThreads("qcow2-convert"));
    try (Qcow2Image out = Qcow2Image.create(target, sized)) {
      java.util.ArrayDeque<Future<ByteBuffer>> pending = new java.util.ArrayDeque<>();
      java.util.concurrent.BlockingQueue<ByteBuffer> free = new java.util.concurrent.LinkedBlockingQueue<>();
      for (int i = 0; i < window; i++) {
        free.add(ByteBuffer.allocateDirect(chunkSize));
      }
      long submitted = 0;
      for (long chunk = 0; chunk < chunks; chunk++) {
        while (submitted < chunks && pending.size() < window) {
          long start = submitted * chunkSize;
          int length = (int) Math.min(chunkSize, size - start);
          ByteBuffer buffer = free.poll();
          pending.add(pool.submit(() -> readChunk(source, buffer, start, length)));
          submitted++;
        }
        ByteBuffer data = awaitBuffer(pending.poll());
        long start = chunk * chunkSize;
        writeNonZeroClusters(out, data, start, clusterSize);
        free.add(data);
        if (progress != null) {
          progress.accept(Math.min(size, start + chunkSize));
        }
      }
    } finally {
      pool.shutdownNow();
    }
  }

  /** Reads one chunk; runs that read as zeros are filled without reading. */
  private static ByteBuffer readChunk(DiskImage source, ByteBuffer buffer, long start, int length) throws IOException {
    buffer.clear().limit(length);
    long at = start;
    while (at < start + length) {
      BlockStatus status = source.blockStatus(at, start + length - at);
      int n = (int) status.length();
      ByteBuffer part = buffer.slice().limit(n);
      if (!status.data() && status.zero()) {
        while (part.hasRemaining()) {
          part.put(ZEROS.duplicate().limit(Math.min(part.remaining(), ZEROS.capacity())));
        }
      } else {
        source.readFully(part, at);
      }
      buffer.position(buffer.position() + n);
      at += n;
    }
    return buffer.flip();
  }

  /** Writes the clusters of {@code data} that are not all zeros, runs of them at a time. */
  private static void writeNonZeroClusters(Qcow2Image out, ByteBuffer data, long start, int clusterSize)
      throws IOException {
    int length = data.limit();
    int pos = 0;
    while (pos < length) {
      int end = Math.min(length, pos + clusterSize);
      if (isZero(data, pos, end)) {
        pos = end;
        continue;
      }
      int runEnd = end;
      while (runEnd < length && !isZero(data, runEnd, Math.min(length, runEnd + clusterSize))) {
        runEnd = Math.min(length, runEnd + clusterSize);
      }
      out.write(data.duplicate().limit(runEnd).position(pos), start + pos);
      pos = runEnd;
    }
  }

  private static ByteBuffer awaitBuffer(Future<ByteBuffer> f) throws IOException {
    try {
      return f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("conversion interrupted");
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof IOException) {
        throw (IOException) c;
      }
      if (c instanceof RuntimeException) {
        throw (RuntimeException) c;
      }
      throw new IOException(c);
    }
  }

  /** Copies guest bytes [start, start + length) into the target, leaving zero blocks as holes. */
  private static void copyChunk(DiskImage source, FileChannel out, ByteBuffer buffer, long start, int length)
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
      writeNonZero(out, buffer, (int) runLength, at);
      at += runLength;
    }
  }

  /** Writes {@code buffer[0, length)} at {@code offset}, skipping 4 KiB-aligned all-zero blocks. */
  private static void writeNonZero(FileChannel out, ByteBuffer buffer, int length, long offset)
      throws IOException {
    int pos = 0;
    while (pos < length) {
      // Blocks align with guest offsets so that holes fall on file-system block boundaries.
      int blockEnd = (int) Math.min(length, pos + ZERO_BLOCK - ((offset + pos) & (ZERO_BLOCK - 1)));
      if (isZero(buffer, pos, blockEnd)) {
        pos = blockEnd;
        continue;
      }
      int dataEnd = blockEnd;
      while (dataEnd < length) {
        int next = Math.min(length, dataEnd + ZERO_BLOCK);
        if (isZero(buffer, dataEnd, next)) {
          break;
        }
        dataEnd = next;
      }
      ByteBuffer slice = buffer.duplicate().limit(dataEnd).position(pos);
      long at = offset + pos;
      while (slice.hasRemaining()) {
        at += out.write(slice, at);
      }
      pos = dataEnd;
    }
  }

  static boolean isZero(ByteBuffer b, int from, int to) {
    int i = from;
    for (; i + 8 <= to; i += 8) {
      if (b.getLong(i) != 0) {
        return false;
      }
    }
    for (; i < to; i++) {
      if (b.get(i) != 0) {
        return false;
      }
    }
    return true;
  }

  private static void await(Future<Void> f) throws IOException {
    try {
      f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("conversion interrupted");
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof IOException) {
        throw (IOException) c;
      }
      if (c instanceof RuntimeException) {
        throw (RuntimeException) c;
      }
      if (c instanceof Error) {
        throw (Error) c;
      }
      throw new IOException(c);
    }
  }

  static java.util.concurrent.ThreadFactory namedThreads(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }
}
