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

  /** A name for messages: the path as it was given, or the in-memory name. */
  String name();

  /** The current size in bytes. */
  long size() throws IOException;

  /**
   * Reads up to {@code dst.remaining()} bytes starting at {@code position}. Fewer bytes are read
   * only at the end of the storage.
   *
   * @return the number of bytes read, 0 at or past the end
   */
  int read(ByteBuffer dst, long position) throws IOException;

  /** Writes all of {@code src} at {@code position}, growing the storage if needed. */
  void write(ByteBuffer src, long position) throws IOException;

  /** Makes every write so far durable. */
  void force() throws IOException;

  /** Cuts or extends the storage to {@code size} bytes; an extension reads as zeros. */
  void truncate(long size) throws IOException;

  boolean isReadOnly();

  /**
   * Reads {@code dst.remaining()} bytes at {@code position}; whatever lies past the end of the
   * storage reads as zeros.
   */
  default void readOrZero(ByteBuffer dst, long position) throws IOException {
    int n = read(dst, position);
    while (dst.hasRemaining()) {
      dst.put((byte) 0);
    }
    assert n >= 0;
  }

  /** Opens a file; read-only unless {@code writable}. */
  static Storage open(Path path, boolean writable) throws IOException {
    return FileStorage.open(path, writable);
  }

  /** A growable in-memory storage that starts with a copy of {@code content}. */
  static Storage inMemory(String name, byte[] content) {
    return new MemoryStorage(name, content);
  }
}
