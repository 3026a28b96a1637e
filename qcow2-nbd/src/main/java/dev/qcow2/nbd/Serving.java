package dev.qcow2.nbd;

import dev.qcow2.DiskImage;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.function.Consumer;

/**
 * What every command that serves an image does, as qemu-nbd does it: listen on loopback unless told
 * otherwise (elsewhere only with TLS), serve until the last client leaves or the process is
 * stopped, and on SIGTERM or SIGINT flush and close the image before the process ends.
 */
public final class Serving {
  /** The NBD port qemu-nbd listens on by default. */
  public static final int DEFAULT_PORT = 10809;

  private final NbdServer server;
  private final DiskImage image;
  private final Consumer<IOException> closeFailure;
  private final Runnable afterStop;
  private boolean stopped;
  private boolean failed;

  private Serving(
      NbdServer server, DiskImage image, Consumer<IOException> closeFailure, Runnable afterStop) {
    this.server = server;
    this.image = image;
    this.closeFailure = closeFailure;
    this.afterStop = afterStop;
  }

  /**
   * The TCP address for qemu-nbd's {@code -b ADDR -p PORT} (either may be null: loopback, port
   * {@value #DEFAULT_PORT}); a non-loopback address is refused unless the server demands TLS.
   */
  public static InetSocketAddress tcpAddress(String bind, Integer port, boolean tls)
      throws IOException {
    InetAddress host =
        bind == null ? InetAddress.getLoopbackAddress() : InetAddress.getByName(bind);
    if (!host.isLoopbackAddress() && !tls) {
      throw new IllegalArgumentException(
          "-b "
              + bind
              + " is not a loopback address: serving there needs TLS "
              + "(--object tls-creds-x509,... --tls-creds ID)");
    }
    return new InetSocketAddress(host, port == null ? DEFAULT_PORT : port);
  }

  /**
   * Starts serving {@code image} (closed here if that fails); {@code closeFailure} hears why the
   * final flush or close failed, if it does, and {@code afterStop} runs once the image is closed
   * (also when the process is stopped by a signal). Call {@link #await()} next.
   */
  public static Serving start(
      DiskImage image,
      java.net.SocketAddress address,
      ServerOptions options,
      Consumer<IOException> closeFailure,
      Runnable afterStop)
      throws IOException {
    NbdServer server;
    try {
      server = NbdServer.start(image, address, options);
    } catch (IOException | RuntimeException e) {
      image.close();
      throw e;
    }
    return new Serving(server, image, closeFailure, afterStop);
  }

  public NbdServer server() {
    return server;
  }

  /**
   * Serves until the server stops, stopping it cleanly if the process is told to end first.
   *
   * @return false if the final flush or close failed
   */
  public boolean await() throws InterruptedException {
    Thread hook = new Thread(this::stop, "nbd-serve-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      server.awaitTermination();
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // The hook is running: stop() below waits for it.
      }
      stop();
    }
    synchronized (this) {
      return !failed;
    }
  }

  /** Once: stop serving (flushing a writable image), close the image, then run afterStop. */
  public synchronized void stop() {
    if (stopped) {
      return;
    }
    stopped = true;
    try (image) {
      server.close();
    } catch (IOException e) {
      failed = true;
      closeFailure.accept(e);
    }
    afterStop.run();
  }
}
