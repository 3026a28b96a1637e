package dev.qcow2.convert;

import dev.qcow2.BlockStatus;
import dev.qcow2.ClusterCompressor;
import dev.qcow2.CompressedCluster;
import dev.qcow2.DiskImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.BitSet;
import java.util.function.Supplier;

/**
 * What every worker of one conversion shares, and a worker's part for one chunk: read it (runs the
 * source reports as zeros are not read), compare it with the backing file (-B), decide each
 * cluster's action, and compress the clusters to store compressed.
 *
 * @param base the backing file the target is compared with, or null
 * @param explicitZeros whether zero clusters are written as zeros (an existing target)
 * @param writeZeroClusters whether zero clusters are written as data (-S 0)
 * @param compressors makes each worker's compressor; null without compression
 * @param holes chunks known beforehand to need nothing, or null
 */
record ChunkJob(
    DiskImage source,
    DiskImage base,
    int clusterSize,
    boolean explicitZeros,
    boolean writeZeroClusters,
    Supplier<ClusterCompressor> compressors,
    Holes holes) {

  /** Chunks known to need no work (no cluster of theirs is stored). */
  interface Holes {
    boolean isHole(long start, int length);
  }

  boolean compress() {
    return compressors != null;
  }

  /**
   * What one worker owns: made by the calling thread, so that making it cannot fail in a worker.
   */
  record WorkerState(
      ClusterCompressor compressor,
      ByteBuffer baseBuffer,
      ByteBuffer lastCluster,
      ByteBuffer scratch) {}

  /** The work of the chunk [start, start + length), read into {@code buffer}. */
  ChunkWork prepare(ByteBuffer buffer, long start, int length, WorkerState state)
      throws IOException {
    int cs = clusterSize;
    int clusters = (length + cs - 1) / cs;
    byte[] actions = new byte[clusters];
    CompressedCluster[] packed = compress() ? new CompressedCluster[clusters] : null;
    buffer.clear().limit(length);
    BitSet maybeData = read(source, buffer, start, length, cs);
    BitSet baseData = null;
    ByteBuffer baseBuffer = state.baseBuffer();
    if (base != null) {
      long baseEnd = Math.min(start + length, base.size());
      baseBuffer.clear().limit(length);
      baseData =
          start < baseEnd
              ? read(
                  base,
                  baseBuffer.slice(0, (int) (baseEnd - start)),
                  start,
                  (int) (baseEnd - start),
                  cs)
              : new BitSet();
      if (baseEnd < start + length) {
        Zeros.fill(
            baseBuffer.slice(
                (int) Math.max(0, baseEnd - start),
                (int) (start + length - Math.max(start, baseEnd))));
      }
    }
    for (int i = 0; i < clusters; i++) {
      int from = i * cs;
      int to = Math.min(length, from + cs);
      boolean zero = !maybeData.get(i) || Zeros.isZero(buffer, from, to);
      byte action;
      if (base != null) {
        boolean same =
            !maybeData.get(i) && !baseData.get(i)
                || buffer.slice(from, to - from).mismatch(baseBuffer.slice(from, to - from)) < 0;
        action = same ? ChunkWork.SKIP : zero ? ChunkWork.ZERO : ChunkWork.DATA;
      } else if (zero) {
        action =
            writeZeroClusters ? ChunkWork.DATA : explicitZeros ? ChunkWork.ZERO : ChunkWork.SKIP;
      } else {
        action = ChunkWork.DATA;
      }
      if (action == ChunkWork.DATA && compress()) {
        CompressedCluster c =
            state.compressor().compressCluster(wholeCluster(buffer, from, to, state.lastCluster()));
        if (c != null) {
          packed[i] = c;
          action = ChunkWork.PACKED;
        }
      }
      actions[i] = action;
    }
    buffer.position(0).limit(length);
    return new ChunkWork(start, length, buffer, actions, packed);
  }

  /**
   * Bytes [from, to) of {@code buffer} as a whole cluster: the disk's last one padded with zeros,
   * as qemu does.
   */
  private ByteBuffer wholeCluster(ByteBuffer buffer, int from, int to, ByteBuffer lastCluster) {
    ByteBuffer cluster = buffer.slice(from, to - from);
    if (to - from < clusterSize) {
      lastCluster.clear();
      lastCluster.put(cluster);
      Zeros.fill(lastCluster);
      cluster = lastCluster.flip();
    }
    return cluster;
  }

  /**
   * Reads [start, start + length) of {@code image} into {@code buffer}; runs the image reports as
   * zeros are filled, not read. Returns the clusters (of {@code cs} bytes) that may hold data.
   */
  private static BitSet read(DiskImage image, ByteBuffer buffer, long start, int length, int cs)
      throws IOException {
    BitSet maybeData = new BitSet((length + cs - 1) / cs);
    long at = start;
    while (at < start + length) {
      BlockStatus status = image.blockStatus(at, start + length - at);
      int n = (int) status.length();
      int from = (int) (at - start);
      ByteBuffer part = buffer.slice(from, n);
      if (!status.data() && status.zero()) {
        Zeros.fill(part);
      } else {
        image.readFully(part, at);
        maybeData.set(from / cs, (from + n + cs - 1) / cs);
      }
      at += n;
    }
    return maybeData;
  }
}
