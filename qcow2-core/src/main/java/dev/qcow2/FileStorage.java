package dev.qcow2;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * {@link Storage} on a {@link FileChannel}. Positional reads and writes on a FileChannel take no
 * lock in the JDK, so concurrent readers proceed in parallel.
 */
final class FileStorage implements Storage {
  private final String name;
  private final FileChannel channel;

  /** Kept for writable files: only it can extend a file without writing (a hole, as ftruncate). */
  private final RandomAccessFile file;

  private final boolean writable;

  /**
   * Whether {@link #force} reaches the disk; not with qemu's cache.no-flush (cache mode unsafe).
   */
  private final boolean flushes;

  private FileStorage(
      String name, FileChannel channel, RandomAccessFile file, boolean writable, boolean flushes) {
    this.name = name;
    this.channel = channel;
    this.file = file;
    this.writable = writable;
    this.flushes = flushes;
  }

  static FileStorage open(Path path, boolean writable) throws IOException {
    return open(path, writable, true);
  }

  /** As {@link #open(Path, boolean)}; with {@code flushes} false, {@link #force} does nothing. */
  static FileStorage open(Path path, boolean writable, boolean flushes) throws IOException {
    if (!writable) {
      return new FileStorage(
          path.toString(), FileChannel.open(path, StandardOpenOption.READ), null, false, false);
    }
    if (!java.nio.file.Files.isRegularFile(path)) {
      throw new java.nio.file.NoSuchFileException(path.toString());
    }
    RandomAccessFile file = new RandomAccessFile(path.toFile(), "rw");
    return new FileStorage(path.toString(), file.getChannel(), file, true, flushes);
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public long size() throws IOException {
    return channel.size();
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    int total = 0;
    while (dst.hasRemaining()) {
      int n = channel.read(dst, position + total);
      if (n < 0) {
        break;
      }
      total += n;
    }
    return total;
  }

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    checkWritable();
    long at = position;
    while (src.hasRemaining()) {
      at += channel.write(src, at);
    }
  }

  @Override
  public void force() throws IOException {
    if (writable && flushes) {
      channel.force(true);
    }
  }

  @Override
  public void truncate(long size) throws IOException {
    checkWritable();
    file.setLength(size);
  }

  /** Whether {@link #force} reaches the disk. */
  boolean flushes() {
    return flushes;
  }

  /** An exclusive lock on the whole file, or null if another process holds one. */
  java.nio.channels.FileLock tryLock() throws IOException {
    return channel.tryLock();
  }

  @Override
  public boolean isReadOnly() {
    return !writable;
  }

  private void checkWritable() {
    if (!writable) {
      throw new IllegalStateException(name + ": storage is read-only");
    }
  }

  @Override
  public void close() throws IOException {
    if (file != null) {
      file.close();
    } else {
      channel.close();
    }
  }

  @Override
  public String toString() {
    return "FileStorage[" + name + "]";
  }
}
