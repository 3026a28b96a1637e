package dev.qcow2.remote;

import dev.qcow2.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.AccessDeniedException;

/**
 * A read-only {@link Storage} over a {@link RangeSource}, one request per read: just enough to open
 * an image from a bucket until the block cache over range sources is in this branch.
 */
final class S3TestStorage implements Storage {
  private final RangeSource source;

  S3TestStorage(RangeSource source) {
    this.source = source;
  }

  @Override
  public String name() {
    return source.name();
  }

  @Override
  public long size() throws IOException {
    return source.length();
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    long left = source.length() - position;
    if (left <= 0 || !dst.hasRemaining()) {
      return 0;
    }
    int n = (int) Math.min(dst.remaining(), left);
    ByteBuffer slice = dst.slice(dst.position(), n);
    source.read(slice, position);
    dst.position(dst.position() + n);
    return n;
  }

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    throw new AccessDeniedException(name(), null, "read-only");
  }

  @Override
  public void force() {}

  @Override
  public void truncate(long size) throws IOException {
    throw new AccessDeniedException(name(), null, "read-only");
  }

  @Override
  public boolean isReadOnly() {
    return true;
  }

  @Override
  public void close() throws IOException {
    source.close();
  }
}
