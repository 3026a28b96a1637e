package dev.qcow2;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * A positional byte store holding an image file: a file on disk, or bytes in memory for tests and
 * fuzzing. There is no file pointer; every read and write names its position, so concurrent readers
 * never contend for one.
 *
 * <p>Implementations are thread-safe. Whoever opens a storage closes it.
 */
public interface Storage extends Closeable {

  /**
   * The storage's name in messages.
   *
   * @return the path as it was given, or the in-memory name
   */
  String name();

  /**
   * How long the storage is now; writes past the end grow it.
   *
   * @return the current size in bytes
   * @throws IOException if the size cannot be learned
   */
  long size() throws IOException;

  /**
   * Reads up to {@code dst.remaining()} bytes starting at {@code position}. Fewer bytes are read
   * only at the end of the storage.
   *
   * @param dst where the bytes go, from its position; its position advances by the bytes read
   * @param position the byte offset in the storage, 0 or more
   * @return the number of bytes read, 0 at or past the end
   * @throws IOException if the bytes cannot be read
   */
  int read(ByteBuffer dst, long position) throws IOException;

  /**
   * Writes all of {@code src} at {@code position}, growing the storage if needed.
   *
   * @param src the bytes from its position to its limit; its position advances to the limit
   * @param position the byte offset in the storage, 0 or more
   * @throws IOException if the bytes cannot be written, as on a read-only storage
   */
  void write(ByteBuffer src, long position) throws IOException;

  /**
   * Makes every write so far durable (fsync for a file).
   *
   * @throws IOException if the writes cannot be made durable
   */
  void force() throws IOException;

  /**
   * Cuts or extends the storage to {@code size} bytes; an extension reads as zeros.
   *
   * @param size the new size in bytes
   * @throws IOException if the size cannot be changed, as on a read-only storage
   */
  void truncate(long size) throws IOException;

  /**
   * Whether writes are refused.
   *
   * @return true if the storage was opened read-only
   */
  boolean isReadOnly();

  /**
   * Reads {@code dst.remaining()} bytes at {@code position}; whatever lies past the end of the
   * storage reads as zeros.
   *
   * @param dst where the bytes go, filled from its position to its limit
   * @param position the byte offset in the storage, 0 or more
   * @throws IOException if the bytes that exist cannot be read
   */
  default void readOrZero(ByteBuffer dst, long position) throws IOException {
    int n = read(dst, position);
    while (dst.hasRemaining()) {
      dst.put((byte) 0);
    }
    assert n >= 0;
  }

  /**
   * Opens a file as a storage.
   *
   * @param path the file, which must exist
   * @param writable false to open it read-only
   * @return the storage; close it when done
   * @throws IOException if the file cannot be opened
   */
  static Storage open(Path path, boolean writable) throws IOException {
    return FileStorage.open(path, writable);
  }

  /**
   * A growable, writable in-memory storage, for tests and fuzzing.
   *
   * @param name the name messages give it
   * @param content the first bytes, copied
   * @return the storage
   */
  static Storage inMemory(String name, byte[] content) {
    return new MemoryStorage(name, content);
  }
}
