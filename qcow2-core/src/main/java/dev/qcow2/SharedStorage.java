package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A read-only view of another image's storage, for reading a file this process has open for
 * writing: closing it closes nothing, since closing a descriptor of the file would drop the
 * writer's lock on it.
 */
final class SharedStorage implements Storage {
  private final Storage target;

  SharedStorage(Storage target) {
    this.target = target;
  }

  @Override
  public String name() {
    return target.name();
  }

  @Override
  public long size() throws IOException {
    return target.size();
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    return target.read(dst, position);
  }

  @Override
  public void write(ByteBuffer src, long position) {
    throw new IllegalStateException(target.name() + ": storage is read-only");
  }

  @Override
  public void force() {}

  @Override
  public void truncate(long size) {
    throw new IllegalStateException(target.name() + ": storage is read-only");
  }

  @Override
  public boolean isReadOnly() {
    return true;
  }

  @Override
  public void close() {}
}
