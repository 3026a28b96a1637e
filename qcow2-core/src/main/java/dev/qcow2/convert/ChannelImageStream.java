package dev.qcow2.convert;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;

/** {@link ImageStream#of}: front to back onto a channel, small writes gathered in a buffer. */
final class ChannelImageStream implements ImageStream {
  private static final int BUFFER = 1 << 20;

  private final WritableByteChannel channel;
  private final ByteBuffer buffer = ByteBuffer.allocateDirect(BUFFER);
  private boolean finished;

  ChannelImageStream(WritableByteChannel channel) {
    this.channel = channel;
  }

  @Override
  public void write(ByteBuffer bytes) throws IOException {
    if (finished) {
      throw new IllegalStateException("the image is finished");
    }
    if (bytes.remaining() > buffer.remaining()) {
      drain();
    }
    if (bytes.remaining() >= BUFFER) {
      writeFully(bytes);
    } else {
      buffer.put(bytes);
    }
  }

  @Override
  public void finish() throws IOException {
    drain();
    finished = true;
  }

  @Override
  public void close() {
    // The channel belongs to the caller; unfinished bytes are dropped with the stream.
  }

  private void drain() throws IOException {
    buffer.flip();
    writeFully(buffer);
    buffer.clear();
  }

  private void writeFully(ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      channel.write(b);
    }
  }
}
