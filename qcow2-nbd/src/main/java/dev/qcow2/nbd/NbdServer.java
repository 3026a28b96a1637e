package dev.qcow2.nbd;

import dev.qcow2.DiskImage;
import dev.qcow2.Qcow2Image;
import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A Network Block Device server that exports one image over TCP or a Unix socket, speaking the
 * fixed newstyle handshake and the transmission phase of the NBD protocol as qemu-nbd does.
 *
 * <p>A {@link Qcow2Image} opened writable is served writable (unless the options say read-only);
 * any other {@link DiskImage} is served read-only. Each connection has a thread that reads its
 * requests; a small pool shared by all connections serves them, and each reply is sent as soon as
 * its request is done. Memory is bounded: a connection holds at most {@link
 * ServerOptions#maxBytesInFlight()} bytes of requests and replies, and at most {@link
 * ServerOptions#maxConnections()} clients are served at once (the next one waits to be accepted, as
 * with qemu-nbd's {@code -e}).
 *
 * <p>The server never closes the image: its owner does, after {@link #close()}, which stops
 * accepting, ends every connection, waits for requests being served and flushes a writable image.
 * Thread-safe.
 */
public final class NbdServer implements Closeable {
  private static final long STOP_SECONDS = 30;

  private final ServerSocketChannel listener;
  private final SocketAddress address;
  private final Export export;
  private final ServerOptions options;
  private final ExecutorService workers;
  private final ScheduledExecutorService timer;
  private final BufferPool buffers = new BufferPool(64L << 20);
  private final Semaphore slots;
  private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
  private final Set<Thread> threads = ConcurrentHashMap.newKeySet();
  private final AtomicBoolean stopping = new AtomicBoolean();
  private final CountDownLatch stopped = new CountDownLatch(1);
  private final AtomicInteger ids = new AtomicInteger();
  private final Thread acceptor;
  private volatile IOException flushFailure;

  private NbdServer(ServerSocketChannel listener, Export export, ServerOptions options)
      throws IOException {
    this.listener = listener;
    this.address = listener.getLocalAddress();
    this.export = export;
    this.options = options;
    this.slots = options.maxConnections() == 0 ? null : new Semaphore(options.maxConnections());
    this.workers = Executors.newFixedThreadPool(options.workers(), daemon("nbd-worker"));
    this.timer = Executors.newSingleThreadScheduledExecutor(daemon("nbd-handshake-timer"));
    this.acceptor = daemon("nbd-accept").newThread(this::accept);
  }

  /**
   * Binds {@code address} (an {@link InetSocketAddress}, port 0 for any free port, or a {@link
   * UnixDomainSocketAddress}, whose file is replaced) and starts serving {@code image}.
   */
  public static NbdServer start(DiskImage image, SocketAddress address, ServerOptions options)
      throws IOException {
    Export export = new Export(image, options);
    ServerSocketChannel listener;
    if (address instanceof UnixDomainSocketAddress unix) {
      if (options.tlsContext() != null) {
        throw new IllegalArgumentException(
            "TLS is offered over TCP only, not on Unix socket " + unix);
      }
      Files.deleteIfExists(unix.getPath());
      listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    } else {
      listener = ServerSocketChannel.open();
      listener.setOption(StandardSocketOptions.SO_REUSEADDR, true);
    }
    try {
      listener.bind(address, 128);
      NbdServer server = new NbdServer(listener, export, options);
      server.acceptor.start();
      return server;
    } catch (IOException | RuntimeException e) {
      listener.close();
      throw e;
    }
  }

  /** The address the server listens on (with the port chosen when 0 was asked for). */
  public SocketAddress address() {
    return address;
  }

  /** The TCP port the server listens on, or -1 for a Unix socket. */
  public int port() {
    return address instanceof InetSocketAddress inet ? inet.getPort() : -1;
  }

  /** Whether clients may write: the image is a writable qcow2 image and the options allow it. */
  public boolean writable() {
    return !export.readOnly();
  }

  /**
   * Waits until the server has stopped: closed, or (unless {@link ServerOptions#persistent()}) left
   * by its last client.
   */
  public void awaitTermination() throws InterruptedException {
    stopped.await();
  }

  public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
    return stopped.await(timeout, unit);
  }

  private void accept() {
    while (!stopping.get()) {
      if (slots != null) {
        try {
          slots.acquire();
        } catch (InterruptedException e) {
          return;
        }
      }
      SocketChannel ch;
      try {
        ch = listener.accept();
        if (ch.getLocalAddress() instanceof InetSocketAddress) {
          ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        }
      } catch (IOException e) {
        // The listener was closed: the server is stopping.
        release();
        return;
      }
      Connection c =
          new Connection(new Transport(ch), export, options, workers, buffers, this::release);
      connections.add(c);
      Thread t =
          new Thread(
              () -> {
                try {
                  c.run();
                } finally {
                  connections.remove(c);
                  threads.remove(Thread.currentThread());
                  if (!options.persistent() && connections.isEmpty()) {
                    // As qemu-nbd without --persistent: the last client to leave ends the server.
                    stopInBackground();
                  }
                }
              },
              "nbd-connection-" + ids.incrementAndGet());
      t.setDaemon(true);
      threads.add(t);
      if (!options.handshakeLimit().isZero()) {
        timer.schedule(
            c::handshakeExpired, options.handshakeLimit().toMillis(), TimeUnit.MILLISECONDS);
      }
      t.start();
    }
  }

  private void release() {
    if (slots != null) {
      slots.release();
    }
  }

  private void stopInBackground() {
    Thread t =
        new Thread(
            () -> {
              try {
                close();
              } catch (IOException e) {
                flushFailure = e;
              }
            },
            "nbd-stop");
    t.setDaemon(true);
    t.start();
  }

  /**
   * Stops accepting, ends every connection, waits for the requests being served, and flushes a
   * writable image. The image stays open.
   *
   * @throws IOException if the final flush failed (or the one when the last client left)
   */
  @Override
  public void close() throws IOException {
    if (!stopping.compareAndSet(false, true)) {
      awaitQuietly();
      if (flushFailure != null) {
        throw flushFailure;
      }
      return;
    }
    try {
      listener.close();
      acceptor.interrupt();
      connections.forEach(Connection::close);
      for (Thread t : threads) {
        if (t != Thread.currentThread()) {
          t.join(TimeUnit.SECONDS.toMillis(STOP_SECONDS));
        }
      }
      workers.shutdown();
      workers.awaitTermination(STOP_SECONDS, TimeUnit.SECONDS);
      timer.shutdownNow();
      if (address instanceof UnixDomainSocketAddress unix) {
        Files.deleteIfExists(unix.getPath());
      }
      export.flush();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (IOException e) {
      flushFailure = e;
      throw e;
    } finally {
      stopped.countDown();
    }
  }

  private void awaitQuietly() {
    try {
      stopped.await(STOP_SECONDS, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static ThreadFactory daemon(String name) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, name + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  @Override
  public String toString() {
    return "NbdServer[" + address + ", " + options + "]";
  }
}
