package dev.qcow2;

import java.nio.ByteBuffer;

/**
 * One guest cluster compressed by a {@link ClusterCompressor}, ready for {@link
 * Qcow2Image#writeCompressed(CompressedCluster, long)}. Lets a converter compress on many threads
 * while one writer places the results. Only a compressor can make one, so its bytes are always a
 * valid stream of the type and cluster size it names.
 */
public final class CompressedCluster {
  private final CompressionType type;
  private final int clusterSize;
  private final ByteBuffer bytes;

  CompressedCluster(CompressionType type, int clusterSize, ByteBuffer bytes) {
    this.type = type;
    this.clusterSize = clusterSize;
    this.bytes = bytes;
  }

  /**
   * The encoding of the compressed bytes.
   *
   * @return the compression type of the image the compressor was made for
   */
  public CompressionType type() {
    return type;
  }

  /**
   * The size of the cluster before compression, which an image must share to store this one.
   *
   * @return the cluster size in bytes
   */
  public int clusterSize() {
    return clusterSize;
  }

  /**
   * How many bytes the compressed cluster takes in the image file.
   *
   * @return the compressed length in bytes, less than {@link #clusterSize()}
   */
  public int length() {
    return bytes.remaining();
  }

  ByteBuffer bytes() {
    return bytes.duplicate();
  }
}
