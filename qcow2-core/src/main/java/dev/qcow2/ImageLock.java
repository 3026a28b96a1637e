package dev.qcow2;

import java.io.Closeable;
import java.io.IOException;
import java.nio.channels.FileLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The in-process lock of an open {@link Qcow2Image} and whether it is still open. Reads and block
 * status look tables up: on a writable image they share the lock, so that they never meet a table
 * (or an L2 entry and its subcluster bitmap) half changed; each write-side action holds it alone. A
 * closed image refuses both, read-only or not.
 */
final class ImageLock {
  /** An action on the tables, which may fail with an I/O error. */
  interface TableChange<T> {
    T run() throws IOException;
  }

  /** An action that returns nothing. */
  interface TableUpdate {
    void run() throws IOException;
  }

  private final String filename;
  private final boolean writable;
  private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();

  /** Set by {@link #close}; read without the lock on read-only images. */
  private volatile boolean closed;

  ImageLock(String filename, boolean writable) {
    this.filename = filename;
    this.writable = writable;
  }

  ReentrantReadWriteLock lock() {
    return lock;
  }

  /** Runs {@code read} sharing the lock (on a writable image) while the image is open. */
  <T> T whileReading(TableChange<T> read) throws IOException {
    if (writable) {
      lock.readLock().lock();
    }
    try {
      checkOpen();
      return read.run();
    } finally {
      if (writable) {
        lock.readLock().unlock();
      }
    }
  }

  /** Runs {@code change} under the write lock on an image open for writing. */
  <T> T whileWritable(TableChange<T> change) throws IOException {
    lock.writeLock().lock();
    try {
      checkOpen();
      if (!writable) {
        throw new IllegalStateException(filename + ": image is read-only");
      }
      return change.run();
    } finally {
      lock.writeLock().unlock();
    }
  }

  void whileWritable(TableUpdate update) throws IOException {
    whileWritable(
        () -> {
          update.run();
          return null;
        });
  }

  void checkOpen() {
    if (closed) {
      throw new IllegalStateException(filename + ": image is closed");
    }
  }

  /**
   * Marks the image closed, running {@code last} (the writer's close) under the write lock first on
   * a writable image, then releases {@code fileLock} and closes {@code others} in order, null ones
   * skipped. Every step runs even after one fails; the first failure is thrown with the others
   * suppressed. Returns false, doing nothing, if the image was closed already.
   */
  boolean close(TableUpdate last, FileLock fileLock, Closeable... others) throws IOException {
    IOException failure = null;
    if (!writable) {
      if (closed) {
        return false;
      }
      closed = true;
    } else {
      lock.writeLock().lock();
      try {
        if (closed) {
          return false;
        }
        closed = true;
        last.run();
      } catch (IOException e) {
        failure = e;
      } finally {
        lock.writeLock().unlock();
      }
    }
    Closeable release = fileLock == null ? null : fileLock::release;
    for (int i = -1; i < others.length; i++) {
      Closeable c = i < 0 ? release : others[i];
      try {
        if (c != null) {
          c.close();
        }
      } catch (IOException e) {
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
    }
    if (failure != null) {
      throw failure;
    }
    return true;
  }
}
