package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Compressed clusters (QEMU's qcow2_co_pwritev_compressed and qcow2_alloc_bytes): each one's bytes
 * packed after the previous one's, sharing host clusters, each touched host cluster counted once
 * per compressed cluster. Part of {@link ImageWriter}, under its rules.
 */
final class CompressedWrites {
  private final ImageWriter w;
  private final Qcow2Image image;
  private final ClusterGeometry g;
  private ClusterCompressor compressor;

  /**
   * {@code cluster} as the whole cluster to compress at guest {@code offset}: the disk's last
   * cluster may be short, and is padded with zeros, as qemu does.
   *
   * @throws IllegalArgumentException if {@code offset} is not cluster-aligned or {@code cluster} is
   *     not one whole cluster
   */
  static ByteBuffer wholeCluster(
      String filename, ClusterGeometry g, long diskSize, ByteBuffer cluster, long offset) {
    checkAligned(filename, g, offset);
    boolean last = offset + cluster.remaining() == diskSize;
    if (cluster.remaining() != g.clusterSize && !(last && cluster.remaining() < g.clusterSize)) {
      throw new IllegalArgumentException(
          filename
              + ": a compressed write is one whole cluster, not "
              + cluster.remaining()
              + " bytes");
    }
    if (cluster.remaining() == g.clusterSize) {
      return cluster;
    }
    return ByteBuffer.allocate(g.clusterSize).put(cluster).clear();
  }

  /**
   * Refuses a cluster compressed for another compression type or cluster size, or a misaligned
   * offset.
   */
  static void checkFits(
      String filename,
      ClusterGeometry g,
      CompressionType type,
      CompressedCluster cluster,
      long offset) {
    checkAligned(filename, g, offset);
    if (cluster.type() != type || cluster.clusterSize() != g.clusterSize) {
      throw new IllegalArgumentException(
          filename
              + ": a "
              + cluster.type()
              + " cluster of "
              + cluster.clusterSize()
              + " bytes does not fit an image of "
              + type
              + " clusters of "
              + g.clusterSize);
    }
  }

  private static void checkAligned(String filename, ClusterGeometry g, long offset) {
    if (!g.isClusterAligned(offset)) {
      throw new IllegalArgumentException(
          filename + ": compressed writes must start on a cluster boundary: " + offset);
    }
  }

  /** Where the next compressed cluster's bytes go, or 0 to start a new host cluster. */
  private long nextCompressedByte;

  CompressedWrites(ImageWriter w) {
    this.w = w;
    this.image = w.image;
    this.g = w.g;
  }

  /** Where the next compressed cluster's bytes would go, or 0 for a new host cluster. */
  long nextByte() {
    return nextCompressedByte;
  }

  /** Starts packing in a new host cluster: the current one may be shared, or freed. */
  void resetPacking() {
    nextCompressedByte = 0;
  }

  /**
   * Stores one whole guest cluster compressed. If it does not shrink, it is stored as a normal
   * cluster, as qemu does.
   */
  void writeCompressed(ByteBuffer cluster, long guest) throws IOException {
    if (w.external) {
      throw new IllegalStateException(
          image.filename() + ": compressed clusters cannot go to an external data file");
    }
    w.beforeChange();
    if (compressor == null) {
      compressor = new ClusterCompressor(image.header().compressionType(), g.clusterSize);
    }
    ByteBuffer packed = compressor.compress(cluster.duplicate());
    if (packed == null) {
      w.write(cluster, guest);
      return;
    }
    writePacked(packed, guest);
    cluster.position(cluster.limit());
  }

  /** Stores the compressed bytes of one guest cluster, packed after the previous ones. */
  void writePacked(ByteBuffer packed, long guest) throws IOException {
    if (w.external) {
      throw new IllegalStateException(
          image.filename() + ": compressed clusters cannot go to an external data file");
    }
    w.beforeChange();
    int size = packed.remaining();
    // The L2 table first, as qemu does: allocated after the bytes, it would take the cluster the
    // next compressed cluster could have spilled into.
    long[] table = w.l2ForWrite(g.l1Index(guest));
    long offset = allocateBytes(size);
    w.writeData(packed, offset);
    int l2Index = g.l2Index(guest);
    int k = g.extendedL2 ? 2 : 1;
    w.release(table[k * l2Index]);
    table[k * l2Index] = CompressedDescriptor.entry(offset, size, g.clusterBits);
    if (g.extendedL2) {
      table[2 * l2Index + 1] = 0;
    }
    w.flushIfCacheFull();
  }

  /**
   * Allocates {@code size} bytes for compressed data, packed after the previous compressed cluster
   * (qemu's qcow2_alloc_bytes). Every host cluster the bytes touch gains one reference.
   */
  private long allocateBytes(int size) throws IOException {
    long offset = nextCompressedByte;
    if (offset != 0 && !w.refcounts.canIncrement(offset >>> g.clusterBits)) {
      offset = 0; // narrow refcounts (1 bit) cannot share a cluster between compressed clusters
    }
    if (offset != 0) {
      long cluster = offset >>> g.clusterBits;
      long lastCluster = (offset + size - 1) >>> g.clusterBits;
      if (lastCluster == cluster) {
        w.refcounts.increment(cluster, 1, 1);
      } else if (lastCluster == cluster + 1 && w.refcounts.tryAllocateAt(cluster + 1)) {
        w.refcounts.increment(cluster, 1, 1);
        image.growFileSize(w.refcounts.endCluster() << g.clusterBits);
      } else {
        offset = 0;
      }
    }
    if (offset == 0) {
      offset = w.allocate(1);
    }
    long end = offset + size;
    nextCompressedByte = (end & (g.clusterSize - 1)) == 0 ? 0 : end;
    return offset;
  }
}
