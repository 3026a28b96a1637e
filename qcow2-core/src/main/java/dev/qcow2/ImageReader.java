package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Reading the disk through the chain: its bytes (data clusters, compressed clusters, zeros, or the
 * backing file's bytes below) and their status (what qemu-img map reports). Takes no lock: {@link
 * Qcow2Image} holds its read lock around these on a writable image.
 */
final class ImageReader {
  private final Qcow2Image image;
  private final ClusterGeometry g;
  private final String filename;
  private final ClusterMap clusters;
  private final CompressedClusterReader compressed;

  /** The image's encryption, or null. */
  final ImageEncryption encryption;

  /**
   * As the constructor; if it fails (a wrong passphrase, a damaged LUKS header), the files the
   * image opened beside itself are closed first.
   */
  static ImageReader open(
      Qcow2Image image,
      ClusterGeometry g,
      ClusterMap clusters,
      OpenOptions options,
      ImageOpener.Neighbours neighbours)
      throws IOException {
    try {
      return new ImageReader(image, g, clusters, options);
    } catch (IOException | RuntimeException e) {
      neighbours.closeAfter(e);
      throw e;
    }
  }

  /**
   * The reader of {@code image}, whose storage and header are set: compressed clusters in the
   * header's compression type, and the image's encryption unlocked as {@code options} allow.
   */
  ImageReader(Qcow2Image image, ClusterGeometry g, ClusterMap clusters, OpenOptions options)
      throws IOException {
    this.image = image;
    this.g = g;
    this.filename = image.filename();
    this.clusters = clusters;
    Header header = image.header();
    this.compressed =
        new CompressedClusterReader(image, g, image.storage(), header.compressionType());
    this.encryption = ImageEncryption.open(filename, image.storage(), header, options);
  }

  /** Reads as {@link DiskImage#read}; callers hold the lock on a writable image. */
  int read(ByteBuffer dst, long offset) throws IOException {
    if (offset < 0) {
      throw new IllegalArgumentException(filename + ": negative offset " + offset);
    }
    long size = image.size();
    if (offset >= size) {
      return -1;
    }
    int total = (int) Math.min(dst.remaining(), size - offset);
    int done = 0;
    while (done < total) {
      long at = offset + done;
      ClusterMap.Run run = clusters.lookup(at, total - done);
      int n = (int) run.length();
      ByteBuffer part = dst.slice().limit(n);
      switch (run.kind()) {
        case ClusterMap.NORMAL:
          if (encryption != null) {
            encryption.read(image.dataStorage(), part, run.hostOffset(), at);
          } else {
            image.dataStorage().readOrZero(part, run.hostOffset());
          }
          break;
        case ClusterMap.COMPRESSED:
          compressed.read(part, run.descriptor(), g.offsetInCluster(at));
          break;
        case ClusterMap.UNALLOCATED:
        case ClusterMap.UNALLOCATED_ALLOC:
          readBacking(part, at);
          break;
        default:
          fillZeros(part);
          break;
      }
      dst.position(dst.position() + n);
      done += n;
    }
    return total;
  }

  private void readBacking(ByteBuffer part, long at) throws IOException {
    DiskImage backing = image.backing();
    if (backing != null && at < backing.size()) {
      int n = (int) Math.min(part.remaining(), backing.size() - at);
      ByteBuffer head = part.slice().limit(n);
      backing.readFully(head, at);
      part.position(part.position() + n);
    }
    fillZeros(part);
  }

  private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(64 << 10);

  private static void fillZeros(ByteBuffer b) {
    if (b.hasArray()) {
      int from = b.arrayOffset() + b.position();
      Arrays.fill(b.array(), from, from + b.remaining(), (byte) 0);
      b.position(b.limit());
      return;
    }
    while (b.hasRemaining()) {
      b.put(ZEROS.duplicate().limit(Math.min(b.remaining(), ZEROS.capacity())));
    }
  }

  /** The status as {@link DiskImage#blockStatus}; callers hold the lock on a writable image. */
  BlockStatus blockStatus(long offset, long maxLength) throws IOException {
    long size = image.size();
    if (offset < 0 || offset >= size) {
      throw new IllegalArgumentException(
          filename + ": offset " + offset + " is outside the disk (" + size + " bytes)");
    }
    ClusterMap.Run run = clusters.lookup(offset, Math.min(maxLength, size - offset));
    long len = run.length();
    switch (run.kind()) {
      case ClusterMap.NORMAL:
        return new BlockStatus(
            offset, len, 0, true, false, true, false, run.hostOffset(), dataFilename());
      case ClusterMap.ZERO_ALLOC:
        return new BlockStatus(
            offset, len, 0, true, true, false, false, run.hostOffset(), dataFilename());
      case ClusterMap.ZERO_PLAIN:
        return new BlockStatus(offset, len, 0, true, true, false, false, -1, filename);
      case ClusterMap.COMPRESSED:
        return new BlockStatus(offset, len, 0, true, false, true, true, -1, filename);
      default:
        // Unallocated here. qemu still reports the host offset of an unallocated subcluster of
        // an allocated cluster when nothing lies below it.
        DiskImage backing = image.backing();
        if (backing == null || offset >= backing.size()) {
          // Past the end of a shorter backing file the disk reads zeros; qemu-img map reports
          // that range at depth 0.
          return new BlockStatus(
              offset,
              len,
              0,
              false,
              true,
              false,
              false,
              run.hostOffset(),
              run.hostOffset() >= 0 ? dataFilename() : filename);
        }
        return backing.blockStatus(offset, Math.min(len, backing.size() - offset)).below();
    }
  }

  private String dataFilename() {
    return image.dataFileName() != null
        ? BackingFiles.resolve(image.path(), image.dataFileName()).toString()
        : filename;
  }

  /** Refuses a guest range [offset, offset + length) that is not inside a disk of {@code size}. */
  static void checkRange(String filename, long size, long offset, long length) {
    if (offset < 0 || length < 0 || offset > size - length) {
      String range = "[" + offset + ", " + offset + " + " + length + ")";
      throw new IllegalArgumentException(
          filename + ": range " + range + " is outside the disk (" + size + " bytes)");
    }
  }
}
