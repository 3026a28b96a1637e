package dev.qcow2.convert;

import dev.qcow2.BlockStatus;
import dev.qcow2.DiskImage;
import dev.qcow2.internal.parallel.Workers;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

/**
 * A sparse raw file as the target: holes wherever a block of the disk reads zeros. Each worker
 * writes its own chunks with positional writes (measured faster than one writer).
 */
final class RawTarget {
  /**
   * Work unit of one worker: large enough to amortise the per-chunk lookups, small enough to stay
   * in the processor's cache between the read and the write (512 KiB measured faster than 2 MiB).
   */
  static final int CHUNK_SIZE = 512 << 10;

  private RawTarget() {}

  static void convert(DiskImage source, Path target, ConvertOptions o) throws IOException {
    long size = source.size();
    int zeroBlock = (int) Math.min(CHUNK_SIZE, o.minSparse());
    // With -n the old bytes stay unless the target is known to read zeros: write the zeros too.
    boolean writeZeros = zeroBlock == 0 || (o.noCreate() && !o.targetIsZero());
    try (RandomAccessFile file = new RandomAccessFile(target.toFile(), "rw")) {
      if (!o.noCreate()) {
        // Cut first so that no old byte survives where the new disk has a hole.
        file.setLength(0);
        file.setLength(size);
      } else if (Files.isRegularFile(target) && file.length() < size) {
        throw new IllegalArgumentException(
            target
                + ": the target is smaller than the source ("
                + file.length()
                + " < "
                + size
                + " bytes)");
      }
      FileChannel out = file.getChannel();
      long chunks = (size + CHUNK_SIZE - 1) / CHUNK_SIZE;
      AtomicLong nextChunk = new AtomicLong();
      AtomicLong done = new AtomicLong();
      AtomicBoolean failed = new AtomicBoolean();
      LongConsumer progress = o.progress();
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
          Workers.await(f, "conversion");
        }
      } finally {
        // Not shutdownNow: an interrupt in the middle of a read closes the source's channel.
        failed.set(true);
        Workers.stop(pool);
      }
    }
  }

  /** Copies guest bytes [start, start + length) into the target, leaving zero blocks as holes. */
  private static void copyChunk(
      DiskImage source, FileChannel out, ByteBuffer buffer, long start, int length, int zeroBlock)
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
   * block boundaries); with {@code zeroBlock} 0, writes every byte.
   */
  static void writeSparse(
      FileChannel out, ByteBuffer buffer, int length, long offset, int zeroBlock)
      throws IOException {
    int pos = 0;
    while (pos < length) {
      int dataEnd = length;
      if (zeroBlock > 0) {
        int blockEnd = (int) Math.min(length, pos + zeroBlock - ((offset + pos) % zeroBlock));
        if (Zeros.isZero(buffer, pos, blockEnd)) {
          pos = blockEnd;
          continue;
        }
        dataEnd = blockEnd;
        while (dataEnd < length) {
          int next = Math.min(length, dataEnd + zeroBlock);
          if (Zeros.isZero(buffer, dataEnd, next)) {
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
}
