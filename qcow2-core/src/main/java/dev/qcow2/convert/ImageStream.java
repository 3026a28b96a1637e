package dev.qcow2.convert;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;

/**
 * A target that takes an image as one forward stream of bytes and cannot seek: standard output, a
 * pipe, an object store's multipart upload. {@link ImageConverter#convert(dev.qcow2.DiskImage,
 * ImageStream, ConvertOptions)} writes raw and qcow2 images to it; {@link #of} makes one over a
 * channel.
 *
 * <p>What an implementation must do:
 *
 * <ul>
 *   <li>{@link #write} appends all of {@code bytes}' remaining bytes after everything written
 *       before, and is done with the buffer when it returns (the caller reuses it). Writes come in
 *       any sizes, from a few bytes (a compressed cluster) to a few MiB; grouping them into parts
 *       of the sizes a store needs (S3: every part but the last at least 5 MiB, at most 10,000
 *       parts) is the implementation's business.
 *   <li>{@link #headCapacity} says how many leading bytes the target lets the converter send last
 *       (0, the default, for none: then the stream is written strictly front to back). A qcow2
 *       image whose head (header, refcount table, L1 table; whole clusters, usually a few hundred
 *       KiB) fits is written in one pass even when compressed: the converter calls {@link
 *       #deferHead} with the head's exact length before its first write, then writes everything
 *       after the head, then calls {@link #writeHead} once with exactly that many bytes, which
 *       belong before the first written byte. An implementation that offers this keeps, for
 *       example, the first part of an upload open until the head comes (S3: the part holding the
 *       head may be uploaded last, under part number 1).
 *   <li>{@link #finish} is called once, after the last write (and the head): the image is complete
 *       and must now become visible whole (flush; complete the upload).
 *   <li>{@link #close} releases what the stream holds. Closed without {@link #finish} (the
 *       conversion failed or was interrupted), it abandons the image: an upload is aborted and
 *       leaves no object behind.
 * </ul>
 *
 * The converter calls these from one thread, in the order write..., [writeHead], finish; an
 * exception from any of them fails the conversion. The caller that makes a stream closes it
 * (try-with-resources), also on failure.
 */
public interface ImageStream extends Closeable {
  /**
   * Appends {@code bytes} (all of its remaining bytes) to the image.
   *
   * @param bytes the bytes from position to limit; the caller reuses the buffer after the call
   * @throws IOException if the target cannot take them; the conversion then fails
   */
  void write(ByteBuffer bytes) throws IOException;

  /**
   * How many leading bytes the target lets the converter send last.
   *
   * @return the longest head the target accepts last through {@link #writeHead}; 0 if it cannot
   */
  default long headCapacity() {
    return 0;
  }

  /**
   * Announces, before the first {@link #write}, that the image's first {@code length} bytes (at
   * most {@link #headCapacity}) will come last, through {@link #writeHead}.
   *
   * @param length the head's exact length in bytes
   * @throws IOException if the target cannot prepare for it
   * @throws UnsupportedOperationException by default, for a target whose capacity is 0
   */
  default void deferHead(long length) throws IOException {
    throw new UnsupportedOperationException("this target cannot take its head last");
  }

  /**
   * The image's first bytes, announced by {@link #deferHead}, after every {@link #write}.
   *
   * @param head exactly the announced length of bytes, from position to limit
   * @throws IOException if the target cannot take them
   * @throws UnsupportedOperationException by default, for a target whose capacity is 0
   */
  default void writeHead(ByteBuffer head) throws IOException {
    throw new UnsupportedOperationException("this target cannot take its head last");
  }

  /**
   * The image is complete: make it visible whole. Called once, after the last write.
   *
   * @throws IOException if the image cannot be completed (the upload fails, say)
   */
  void finish() throws IOException;

  /** Releases the stream; without {@link #finish}, abandons the image. */
  @Override
  void close() throws IOException;

  /**
   * A stream that writes front to back to {@code channel} (standard output, a pipe, a file),
   * through a buffer of 1 MiB so that small writes do not each cost a system call. Closing the
   * stream leaves the channel open: the caller owns it.
   *
   * @param channel where the bytes go, in order
   * @return a stream that cannot take its head last ({@link #headCapacity} 0)
   */
  static ImageStream of(WritableByteChannel channel) {
    return new ChannelImageStream(channel);
  }
}
