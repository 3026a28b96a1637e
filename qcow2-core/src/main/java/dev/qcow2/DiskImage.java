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

  /** The file name as it was given when opening (or as the image that names it wrote it). */
  String filename();

  /** "qcow2" or "raw", as qemu-img names formats. */
  String format();

  /** The virtual disk size in bytes. */
  long size();

  /**
   * Reads up to {@code dst.remaining()} bytes of the virtual disk starting at {@code offset}; fewer
   * only at the end of the disk.
   *
   * @return the number of bytes read, or -1 if {@code offset} is at or past the end of the disk
   * @throws IllegalArgumentException if {@code offset} is negative
   */
  int read(ByteBuffer dst, long offset) throws IOException;

  /**
   * Describes the run of bytes starting at {@code offset} that share one status, at most {@code
   * maxLength} bytes long and never past the end of the disk.
   */
  BlockStatus blockStatus(long offset, long maxLength) throws IOException;

  /** What qemu-img info reports about this image alone. */
  ImageInfo info() throws IOException;

  /** The backing image, or null if there is none (or backing files were not opened). */
  DiskImage backing();

  /**
   * A read-only channel over the virtual disk, with its own position. Closing it leaves the image
   * open.
   */
  default SeekableByteChannel channel() {
    return new DiskChannel(this);
  }

  /** Reads exactly {@code dst.remaining()} bytes at {@code offset}. */
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

  /** Whether the file starts with the qcow2 magic (anything else is taken as raw). */
  static boolean isQcow2(Path path) throws IOException {
    return ImageFormat.isQcow2(path);
  }

  /** Opens a qcow2 or raw image read-only, detecting the format from the first bytes. */
  static DiskImage open(Path path) throws IOException {
    return open(path, OpenOptions.defaults());
  }

  /** Opens a qcow2 or raw image, detecting the format from the first bytes. */
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
