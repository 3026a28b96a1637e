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
 * <p>Implementations are thread-safe: several ranges may be in flight at once.
 */
public interface RangeSource extends Closeable {

  /** The object's address as the user gave it, for messages. */
  String name();

  /** The object's length in bytes, as pinned on first contact. */
  long length() throws IOException;

  /**
   * Fills {@code dst} with the object's bytes from {@code position}; {@code position +
   * dst.remaining()} must not pass {@link #length()}.
   */
  void read(ByteBuffer dst, long position) throws IOException;
}
