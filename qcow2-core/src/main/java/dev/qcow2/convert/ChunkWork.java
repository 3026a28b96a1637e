package dev.qcow2.convert;

import dev.qcow2.CompressedCluster;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * A chunk made ready by a worker: its bytes, the action for each of its clusters, and the
 * compressed form of the clusters whose action is {@link #PACKED}.
 *
 * @param data the chunk's bytes from position 0, or null when no cluster needs them
 */
record ChunkWork(
    long start, int length, ByteBuffer data, byte[] actions, CompressedCluster[] packed) {
  /** What the writer does with one cluster of a chunk. */
  static final byte SKIP = 0;

  static final byte DATA = 1;
  static final byte ZERO = 2;
  static final byte PACKED = 3;

  /** The work of a chunk known to read as zeros: what a worker decides for such a chunk. */
  static ChunkWork zeros(ChunkJob job, long start, int length) {
    int cs = job.clusterSize();
    byte[] actions = new byte[(length + cs - 1) / cs];
    Arrays.fill(actions, job.explicitZeros() ? ZERO : SKIP);
    return new ChunkWork(
        start,
        length,
        null,
        actions,
        job.compress() ? new CompressedCluster[actions.length] : null);
  }

  /**
   * Whether the work keeps its buffer until stored: plain data is written from it, and compressed
   * clusters keep it too, so that the compressed bytes waiting for the writer stay bounded by the
   * buffers.
   */
  boolean holdsData() {
    for (byte action : actions) {
      if (action == DATA || action == PACKED) {
        return true;
      }
    }
    return false;
  }

  /** The same work without its buffer. */
  ChunkWork withoutData() {
    return new ChunkWork(start, length, null, actions, packed);
  }

  /** Bytes [from, to) of the chunk's data. */
  ByteBuffer slice(int from, int to) {
    return data.duplicate().limit(to).position(from);
  }
}
