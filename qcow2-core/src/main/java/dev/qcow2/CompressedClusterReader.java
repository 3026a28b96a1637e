package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Reads compressed clusters (see {@link CompressedDescriptor}): each reading thread keeps its own
 * buffers and codec, and the last cluster it inflated for a partial read, so that reading a
 * compressed cluster piece by piece inflates it once.
 */
final class CompressedClusterReader {
  /** Buffers and a codec for one reading thread. */
  private static final class ReadState {
    final ClusterCodec codec;

    /** Compressed bytes as read from the file; direct, so neither the file nor the codec copies. */
    final ByteBuffer compressed;

    /** The last cluster decompressed for a partial read, kept for the next partial read. */
    final ByteBuffer cluster;

    /** The descriptor whose data {@link #cluster} holds, or 0 for none (0 is never compressed). */
    long cachedDescriptor;

    ReadState(CompressionType type, int clusterSize) {
      this.codec = ClusterCodec.forType(type);
      // A descriptor can name up to 2^(cluster_bits - 8) sectors, i.e. twice the cluster size.
      this.compressed = ByteBuffer.allocateDirect(2 * clusterSize);
      this.cluster = ByteBuffer.allocateDirect(clusterSize);
    }
  }

  private final Qcow2Image image;
  private final ClusterGeometry g;
  private final String filename;
  private final Storage storage;
  private final ThreadLocal<ReadState> readState;

  CompressedClusterReader(
      Qcow2Image image, ClusterGeometry g, Storage storage, CompressionType type) {
    this.image = image;
    this.g = g;
    this.filename = image.filename();
    this.storage = storage;
    int clusterSize = g.clusterSize;
    this.readState = ThreadLocal.withInitial(() -> new ReadState(type, clusterSize));
  }

  /**
   * Reads {@code part.remaining()} bytes from {@code offsetInCluster} on of the compressed cluster
   * that {@code descriptor} names.
   */
  void read(ByteBuffer part, long descriptor, int offsetInCluster) throws IOException {
    ReadState state = readState.get();
    if (offsetInCluster == 0 && part.remaining() == g.clusterSize) {
      // A whole cluster is wanted: inflate straight into the caller's buffer.
      decompress(descriptor, state, part);
      return;
    }
    if (state.cachedDescriptor != descriptor) {
      state.cachedDescriptor = 0;
      decompress(descriptor, state, state.cluster.clear());
      state.cachedDescriptor = descriptor;
    }
    part.put(
        state
            .cluster
            .duplicate()
            .limit(offsetInCluster + part.remaining())
            .position(offsetInCluster));
  }

  /** Reads and inflates the compressed cluster that {@code descriptor} names into {@code out}. */
  private void decompress(long descriptor, ReadState state, ByteBuffer out) throws IOException {
    long hostOffset = CompressedDescriptor.hostOffset(descriptor, g.clusterBits);
    int csize = CompressedDescriptor.compressedSize(descriptor, g.clusterBits);
    if (hostOffset > CompressedDescriptor.MAX_HOST_OFFSET || hostOffset >= image.fileSize()) {
      throw new CorruptImageException(
          filename,
          Structure.COMPRESSED_CLUSTER,
          hostOffset,
          "descriptor 0x" + Long.toHexString(descriptor) + " points past the end of the file");
    }
    ByteBuffer in = state.compressed.clear().limit(csize);
    // The last sector may run past the end of the file; qemu reads that part as zeros.
    storage.readOrZero(in, hostOffset);
    in.flip();
    if (!state.codec.decompress(in, out)) {
      throw new CorruptImageException(
          filename,
          Structure.COMPRESSED_CLUSTER,
          hostOffset,
          "does not "
              + (image.header().compressionType() == CompressionType.ZSTD
                  ? "decompress"
                  : "inflate")
              + " to exactly one cluster of "
              + g.clusterSize
              + " bytes ("
              + image.header().compressionType().qemuName()
              + ", "
              + csize
              + " bytes stored)");
    }
  }
}
