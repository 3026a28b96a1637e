package dev.qcow2;

import java.nio.ByteBuffer;
import java.util.Arrays;

/** {@link Storage} in heap memory, for tests and fuzzing. Synchronized: it is never hot. */
final class MemoryStorage implements Storage {
  private final String name;
  private byte[] bytes;
  private int size;

  MemoryStorage(String name, byte[] content) {
    this.name = name;
    this.bytes = content.clone();
    this.size = content.length;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public synchronized long size() {
    return size;
  }

  @Override
  public synchronized int read(ByteBuffer dst, long position) {
    if (position < 0) {
      throw new IllegalArgumentException(name + ": negative position " + position);
    }
    if (position >= size) {
      return 0;
    }
    int n = (int) Math.min(dst.remaining(), size - position);
    dst.put(bytes, (int) position, n);
    return n;
  }

  @Override
  public synchronized void write(ByteBuffer src, long position) {
    if (position < 0) {
      throw new IllegalArgumentException(name + ": negative position " + position);
    }
    long end = position + src.remaining();
    if (end > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(name + ": in-memory storage cannot grow to " + end);
    }
    ensure((int) end);
    src.get(bytes, (int) position, src.remaining());
  }

  private void ensure(int end) {
    if (end > bytes.length) {
      bytes =
          Arrays.copyOf(
              bytes, Math.max(end, (int) Math.min(Integer.MAX_VALUE - 8, bytes.length * 2L)));
    }
    if (end > size) {
      size = end;
    }
  }

  @Override
  public void force() {}

  @Override
  public synchronized void truncate(long newSize) {
    if (newSize > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException(name + ": in-memory storage cannot grow to " + newSize);
    }
    if (newSize < size) {
      Arrays.fill(bytes, (int) newSize, size, (byte) 0);
      size = (int) newSize;
    } else {
      ensure((int) newSize);
    }
  }

  @Override
  public boolean isReadOnly() {
    return false;
  }

  @Override
  public void close() {}

  /** A copy of the current content. */
  synchronized byte[] toByteArray() {
    return Arrays.copyOf(bytes, size);
  }
}
