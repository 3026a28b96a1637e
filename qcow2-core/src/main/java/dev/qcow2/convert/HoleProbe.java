package dev.qcow2.convert;

import dev.qcow2.DiskImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Finds, ahead of the workers, the chunks of a raw source that read as zeros. qemu-img asks the
 * file system where a raw file's holes are; the JDK cannot, so a hole is read and scanned like
 * data, and a long one leaves the writer idle while the workers get through it. Workers that have
 * no free buffer (the writer is busy with data) probe instead: a chunk that holds data shows it in
 * its first piece and costs little; one that reads as zeros is scanned whole now, and when it is
 * claimed later it is neither read nor scanned again.
 */
final class HoleProbe {
  /** Read unit of a probe: data is usually found in the first one. */
  static final int PIECE = 64 << 10;

  private final DiskImage source;
  private final long size;
  private final int chunkSize;
  private final long chunks;
  private final AtomicLong cursor = new AtomicLong();
  private final Set<Long> zeroChunks = ConcurrentHashMap.newKeySet();

  HoleProbe(DiskImage source, int chunkSize) {
    this.source = source;
    this.size = source.size();
    this.chunkSize = chunkSize;
    this.chunks = (size + chunkSize - 1) / chunkSize;
  }

  /**
   * Probes the next chunk at or after {@code claimedUpTo} (the first chunk no worker has claimed)
   * and before {@code limit}, reading it into {@code scratch} (at least {@link #PIECE} bytes).
   * Returns false when there is no such chunk left to probe.
   */
  boolean probeNext(long claimedUpTo, long limit, ByteBuffer scratch) throws IOException {
    long chunk;
    while (true) {
      long c = cursor.get();
      chunk = Math.max(c, claimedUpTo);
      if (chunk >= Math.min(limit, chunks)) {
        return false;
      }
      if (cursor.compareAndSet(c, chunk + 1)) {
        break;
      }
    }
    long start = chunk * chunkSize;
    int length = (int) Math.min(chunkSize, size - start);
    for (int at = 0; at < length; at += PIECE) {
      int n = Math.min(PIECE, length - at);
      scratch.clear().limit(n);
      source.readFully(scratch, start + at);
      if (!Zeros.isZero(scratch, 0, n)) {
        return true;
      }
    }
    zeroChunks.add(chunk);
    return true;
  }

  /** Whether {@code chunk} was found to read as zeros; it is forgotten either way. */
  boolean takeZero(long chunk) {
    return zeroChunks.remove(chunk);
  }
}
