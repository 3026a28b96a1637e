package dev.qcow2.remote;

import java.nio.ByteBuffer;

/**
 * Arithmetic on the buffers of a scattering read ({@link RangeSource#read(ByteBuffer[], long)}).
 */
final class ScatterBuffers {
  private ScatterBuffers() {}

  /** The bytes {@code buffers} have room for. */
  static long remaining(ByteBuffer[] buffers) {
    long n = 0;
    for (ByteBuffer b : buffers) {
      n += b.remaining();
    }
    return n;
  }

  /** Moves the positions of {@code buffers}, in order, past {@code bytes} more bytes. */
  static void advance(ByteBuffer[] buffers, long bytes) {
    for (ByteBuffer b : buffers) {
      int n = (int) Math.min(b.remaining(), bytes);
      b.position(b.position() + n);
      bytes -= n;
    }
  }
}
