package dev.qcow2;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Path;

/**
 * The read side every image kind shares: a virtual disk of {@link #size()} bytes read at guest
 * offsets. Reads are positional and thread-safe. Closing an image closes its backing chain.
 */
public interface DiskImage extends Closeable {

  /**
   * The image's name in messages and reports.
   *
   * @return the file name as it was given when opening (or as the image that names it wrote it)
   */
  String filename();

  /**
   * The image's format.
   *
   * @return "qcow2" or "raw", as qemu-img names formats
   */
  String format();

  /**
   * The size of the virtual disk, which a backing file does not change.
   *
   * @return the virtual disk size in bytes
   */
  long size();

  /**
   * Reads up to {@code dst.remaining()} bytes of the virtual disk starting at {@code offset}; fewer
   * only at the end of the disk.
   *
   * @param dst where the bytes go, from its position; its position advances by the bytes read
   * @param offset the guest offset in bytes
   * @return the number of bytes read, or -1 if {@code offset} is at or past the end of the disk
   * @throws IOException if the image (or a backing file) cannot be read, or a structure on the way
   *     is bad (a {@link Qcow2Exception})
   * @throws IllegalArgumentException if {@code offset} is negative
   */
  int read(ByteBuffer dst, long offset) throws IOException;

  /**
   * Describes the run of bytes starting at {@code offset} that share one status, at most {@code
   * maxLength} bytes long and never past the end of the disk.
   *
   * @param offset the guest offset in bytes, below {@link #size()}
   * @param maxLength the longest run wanted in bytes, at least 1
   * @return the run's status, through the backing chain; at least 1 byte long
   * @throws IOException if the image's metadata (or a backing file's) cannot be read or is bad
   * @throws IllegalArgumentException if {@code offset} is outside the disk
   */
  BlockStatus blockStatus(long offset, long maxLength) throws IOException;

  /**
   * What qemu-img info reports about this image alone (its backing file is only named).
   *
   * @return the report; never null
   * @throws IOException if the file's size on the host cannot be learned
   */
  ImageInfo info() throws IOException;

  /**
   * The image that this one's unallocated clusters read from.
   *
   * @return the backing image, or null if there is none (or backing files were not opened); owned
   *     by this image, which closes it
   */
  DiskImage backing();

  /**
   * A read-only channel over the virtual disk, with its own position. Closing it leaves the image
   * open.
   *
   * @return a new channel at position 0, for one thread at a time
   */
  default SeekableByteChannel channel() {
    return new DiskChannel(this);
  }

  /**
   * Reads exactly {@code dst.remaining()} bytes at {@code offset}.
   *
   * @param dst where the bytes go, filled from its position to its limit
   * @param offset the guest offset in bytes
   * @throws java.io.EOFException if the disk ends before {@code dst} is full
   * @throws IOException if the image cannot be read
   */
  default void readFully(ByteBuffer dst, long offset) throws IOException {
    long at = offset;
    while (dst.hasRemaining()) {
      int n = read(dst, at);
      if (n < 0) {
        throw new java.io.EOFException(filename() + ": read past the end of the disk at " + at);
      }
      at += n;
    }
  }

  /**
   * Whether the file is a qcow2 image, as qemu probes it.
   *
   * @param path the file
   * @return true if it starts with the qcow2 magic (anything else is taken as raw)
   * @throws IOException if the file cannot be read
   */
  static boolean isQcow2(Path path) throws IOException {
    return ImageFormat.isQcow2(path);
  }

  /**
   * Opens a qcow2 or raw image read-only with {@link OpenOptions#defaults()}, detecting the format
   * from the first bytes; a qcow2 image's backing chain is opened too.
   *
   * @param path the image file
   * @return the open image; close it when done
   * @throws IOException if a file of the chain cannot be read, or is bad (a {@link Qcow2Exception})
   */
  static DiskImage open(Path path) throws IOException {
    return open(path, OpenOptions.defaults());
  }

  /**
   * Opens a qcow2 or raw image, detecting the format from the first bytes.
   *
   * @param path the image file
   * @param options writability, limits, backing and snapshot choices; not null
   * @return the open image; close it when done
   * @throws IOException if a file of the chain cannot be read, or is bad (a {@link Qcow2Exception})
   * @throws UnsupportedOperationException if {@code options} ask for a snapshot of a raw image
   */
  static DiskImage open(Path path, OpenOptions options) throws IOException {
    if (ImageFormat.isQcow2(path)) {
      return Qcow2Image.open(path, options);
    }
    if (options.readsSnapshot()) {
      throw new UnsupportedOperationException(
          path + ": a raw image has no internal snapshots to read");
    }
    return RawImage.open(path, options.writable());
  }
}
