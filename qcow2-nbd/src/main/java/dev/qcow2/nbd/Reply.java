package dev.qcow2.nbd;

import java.nio.ByteBuffer;

/**
 * The bytes answering one request, written in one go, and the pooled buffer some of them lie in,
 * given back once they are sent.
 *
 * @param pooled a buffer from the {@link BufferPool}, or null
 */
record Reply(ByteBuffer[] buffers, ByteBuffer pooled) {
  static Reply of(ByteBuffer... buffers) {
    return new Reply(buffers, null);
  }
}
