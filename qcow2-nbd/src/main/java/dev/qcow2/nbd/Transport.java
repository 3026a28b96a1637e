package dev.qcow2.nbd;

import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;

/**
 * A connection's socket: plain, or TLS once NBD_OPT_STARTTLS has switched it. One thread reads (the
 * connection's) while replies are written under its {@link ReplyWriter}'s lock (by that writer, or
 * by the reading thread for the reads it served itself); both go straight to the channel, never
 * through {@code Channels.newInputStream}, whose streams share one lock on a selectable channel, so
 * that a reader waiting for the next request would stall every reply.
 */
final class Transport implements Closeable {
  private static final int TLS_CHUNK = 64 << 10;

  /** The transmission phase's read buffer: many small requests arrive in one system call. */
  private static final int IN_BUFFER = 64 << 10;

  private final SocketChannel ch;
  private SSLSocket tls;
  private InputStream tlsIn;
  private OutputStream tlsOut;

  /**
   * Copies through the TLS streams, which take arrays: one for the reader, one for replies (written
   * under the ReplyWriter's lock).
   */
  private byte[] readChunk;

  private byte[] writeChunk;

  /**
   * Bytes read ahead of the requests parsed so far (flipped: readable), or null while reads are
   * exact. Only the reading thread touches it.
   */
  private ByteBuffer in;

  Transport(SocketChannel ch) {
    this.ch = ch;
  }

  boolean tls() {
    return tls != null;
  }

  /**
   * Runs the server side of a TLS handshake on the socket; what follows goes through TLS. Called
   * from the handshake thread before the transmission phase starts any other thread.
   */
  void startTls(SSLContext context, boolean needClientAuth) throws IOException {
    Socket plain = ch.socket();
    SSLSocket s =
        (SSLSocket) context.getSocketFactory().createSocket(plain, null, plain.getPort(), true);
    s.setUseClientMode(false);
    s.setNeedClientAuth(needClientAuth);
    s.startHandshake();
    tls = s;
    tlsIn = s.getInputStream();
    tlsOut = s.getOutputStream();
    readChunk = new byte[TLS_CHUNK];
    writeChunk = new byte[TLS_CHUNK];
  }

  /**
   * From now on reads take whatever the client has sent, up to a buffer's worth, and later reads
   * are served from it. Called once the handshake is over: a STARTTLS must find no plain bytes read
   * ahead.
   */
  void readAhead() {
    in = ByteBuffer.allocateDirect(IN_BUFFER).flip();
  }

  /**
   * Whether {@code n} bytes have been read ahead, so that reading them cannot wait for the client.
   */
  boolean buffered(int n) {
    return in != null && in.remaining() >= n;
  }

  /** Fills {@code b}; a client that hangs up mid-message is an {@link EOFException}. */
  void readFully(ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      if (in != null && in.hasRemaining()) {
        int n = Math.min(in.remaining(), b.remaining());
        b.put(b.position(), in, in.position(), n);
        b.position(b.position() + n);
        in.position(in.position() + n);
      } else if (in != null && b.remaining() < in.capacity()) {
        in.clear();
        int n = read(in);
        in.flip();
        if (n < 0) {
          throw eof(b);
        }
      } else if (read(b) < 0) {
        throw eof(b);
      }
    }
  }

  private static EOFException eof(ByteBuffer b) {
    return new EOFException(
        "client closed the connection with " + b.remaining() + " bytes of a message unread");
  }

  /** Reads {@code n} bytes into a new buffer, flipped for reading. */
  ByteBuffer read(int n) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(n);
    readFully(b);
    return b.flip();
  }

  private int read(ByteBuffer b) throws IOException {
    if (tls == null) {
      return ch.read(b);
    }
    int n = tlsIn.read(readChunk, 0, Math.min(b.remaining(), readChunk.length));
    if (n > 0) {
      b.put(readChunk, 0, n);
    }
    return n;
  }

  void writeFully(ByteBuffer... buffers) throws IOException {
    if (tls == null) {
      long left = 0;
      for (ByteBuffer b : buffers) {
        left += b.remaining();
      }
      while (left > 0) {
        left -= ch.write(buffers);
      }
      return;
    }
    for (ByteBuffer b : buffers) {
      while (b.hasRemaining()) {
        int n = Math.min(b.remaining(), writeChunk.length);
        b.get(writeChunk, 0, n);
        tlsOut.write(writeChunk, 0, n);
      }
    }
    tlsOut.flush();
  }

  /**
   * Closes the socket at once, without TLS's close_notify: a close from outside must not wait for a
   * writer stuck on a client that stopped reading.
   */
  @Override
  public void close() throws IOException {
    ch.close();
  }
}
