package dev.qcow2.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/**
 * Whole-message I/O on a blocking socket channel. Reads and writes go straight to the channel,
 * never through {@code Channels.newInputStream}: its streams share one lock on a selectable
 * channel, so a reader waiting for the next request would stall every reply.
 */
final class Wire {
  private Wire() {}

  /** Fills {@code b} from {@code ch}; a client that hangs up mid-message is an {@link EOFException}. */
  static void readFully(SocketChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      if (ch.read(b) < 0) {
        throw new EOFException("client closed the connection with " + b.remaining() + " bytes of a message unread");
      }
    }
  }

  /** Reads {@code n} bytes into a new buffer, flipped for reading. */
  static ByteBuffer read(SocketChannel ch, int n) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(n);
    readFully(ch, b);
    return b.flip();
  }

  static void writeFully(SocketChannel ch, ByteBuffer... buffers) throws IOException {
    long left = 0;
    for (ByteBuffer b : buffers) {
      left += b.remaining();
    }
    while (left > 0) {
      left -= ch.write(buffers);
    }
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
