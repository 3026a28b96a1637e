package dev.qcow2.remote;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * One remote object read by byte ranges: a resource on an HTTP(S) server or an object in an
 * S3-compatible store. The object is pinned on first contact (by its ETag, or by its length and
 * modification time where it has none), so that every range comes from the same version: an object
 * replaced while it is read gives an error, never a mix of two versions.
 *
 * <p>Implementations are thread-safe: several ranges may be in flight at once. Every request they
 * send is bounded in time and in the bytes it accepts. Failures are one-line {@link
 * RemoteObjectException}s naming the object: {@link NoSuchObjectException}, {@link
 * ObjectAccessDeniedException}, {@link ObjectChangedException}, {@link RangeNotSupportedException},
 * or the base type for what remains after bounded retries. {@link RemoteStorage} turns a source
 * into a cached, read-ahead {@code Storage}; {@link RangeSources} picks the source for a URL.
 */
public interface RangeSource extends Closeable {

  /** The object's address as the user gave it, for messages. */
  String name();

  /** The object's length in bytes, as pinned on first contact (which this may make). */
  long length() throws IOException;

  /**
   * Fills {@code dst} with the object's bytes from {@code position}, all of them or an exception;
   * {@code position + dst.remaining()} must not pass {@link #length()}.
   *
   * @throws ObjectChangedException if the object is no longer the version pinned
   */
  default void read(ByteBuffer dst, long position) throws IOException {
    read(new ByteBuffer[] {dst}, position);
  }

  /**
   * Fills {@code dsts}, in order, with the object's bytes from {@code position}, in one request
   * where the source can (a cache filling several blocks takes them with no copy in between); as
   * {@link #read(ByteBuffer, long)} otherwise.
   */
  void read(ByteBuffer[] dsts, long position) throws IOException;
}
