package dev.qcow2.testing;

import dev.qcow2.BlockStatus;
import dev.qcow2.DiskImage;
import dev.qcow2.ImageInfo;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Reads as {@code image} does, and fails with an IOException (naming "disk went away") for any read
 * that reaches {@code failAt} or beyond: a source that breaks part-way through a job. Each good
 * read first spins for {@code spinMillis} without heeding interrupts, so that reads are still in
 * flight when the failure comes.
 */
public record FailingImage(DiskImage image, long failAt, long spinMillis) implements DiskImage {
  public FailingImage(DiskImage image, long failAt) {
    this(image, failAt, 0);
  }

  @Override
  public String filename() {
    return image.filename();
  }

  @Override
  public String format() {
    return image.format();
  }

  @Override
  public long size() {
    return image.size();
  }

  @Override
  public int read(ByteBuffer dst, long offset) throws IOException {
    if (offset + dst.remaining() > failAt) {
      throw new IOException(filename() + ": disk went away at " + offset);
    }
    long until = System.nanoTime() + spinMillis * 1_000_000;
    while (System.nanoTime() < until) {
      Thread.onSpinWait();
    }
    return image.read(dst, offset);
  }

  @Override
  public BlockStatus blockStatus(long offset, long maxLength) throws IOException {
    return image.blockStatus(offset, maxLength);
  }

  @Override
  public ImageInfo info() throws IOException {
    return image.info();
  }

  @Override
  public DiskImage backing() {
    return null;
  }

  @Override
  public void close() {}
}
