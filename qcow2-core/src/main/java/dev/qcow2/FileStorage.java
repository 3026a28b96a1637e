package dev.qcow2;

import java.io.IOException;
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
  private final boolean writable;

  private FileStorage(String name, FileChannel channel, boolean writable) {
    this.name = name;
    this.channel = channel;
    this.writable = writable;
  }

  static FileStorage open(Path path, boolean writable) throws IOException {
    FileChannel channel =
        writable
            ? FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)
            : FileChannel.open(path, StandardOpenOption.READ);
    return new FileStorage(path.toString(), channel, writable);
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
    if (writable) {
      channel.force(true);
    }
  }

  @Override
  public void truncate(long size) throws IOException {
    checkWritable();
    long current = channel.size();
    if (size < current) {
      channel.truncate(size);
    } else if (size > current) {
      // FileChannel.truncate never extends; writing the last byte leaves a hole before it.
      channel.write(ByteBuffer.allocate(1), size - 1);
    }
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
    channel.close();
  }

  @Override
  public String toString() {
    return "FileStorage[" + name + "]";
  }
}
