package dev.qcow2.remote;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A small HTTP server for the tests (the tools' too), on a loopback port: serves files by name with
 * single byte ranges, ETags, Last-Modified and If-Match as a static file server does, and counts
 * the requests it answers and the body bytes it sends. Its faults are switched on by the tests:
 * ignoring Range, answering 416 to every range past the first byte, a 503 every few requests, no
 * ETag, a redirect under {@code /r/}, a redirect loop at {@code /loop}, 403 under {@code /denied/},
 * and an object replaced with {@link #put} while it is read.
 */
public final class RangeServer implements AutoCloseable {
  private static final DateTimeFormatter HTTP_DATE =
      DateTimeFormatter.RFC_1123_DATE_TIME.withZone(ZoneOffset.UTC);

  private final HttpServer server;
  private final ExecutorService executor = Executors.newFixedThreadPool(8);
  private final Map<String, Path> files = new ConcurrentHashMap<>();
  private final Map<String, Integer> generations = new ConcurrentHashMap<>();
  public final AtomicLong bytesSent = new AtomicLong();
  public final AtomicInteger requests = new AtomicInteger();

  /** The paths asked for since the last {@link #resetCounts()}. */
  public final java.util.Set<String> paths = ConcurrentHashMap.newKeySet();

  public volatile boolean etags = true;
  public volatile boolean lastModified = true;
  public volatile boolean ignoreRange;
  public volatile boolean wrong416;

  /** Every n-th request is answered 503 (0: never). */
  public volatile int failEvery;

  public RangeServer() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/", this::handle);
    server.setExecutor(executor);
    server.start();
  }

  /** Serves {@code file} as {@code /name}; a second put replaces the object (a new version). */
  public RangeServer put(String name, Path file) {
    files.put("/" + name, file);
    generations.merge("/" + name, 1, Integer::sum);
    return this;
  }

  public URI uri(String name) {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/" + name);
  }

  public void resetCounts() {
    bytesSent.set(0);
    requests.set(0);
    paths.clear();
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      int n = requests.incrementAndGet();
      String path = ex.getRequestURI().getPath();
      paths.add(path);
      if (path.startsWith("/r/")) {
        ex.getResponseHeaders().set("Location", "/" + path.substring(3));
        ex.sendResponseHeaders(302, -1);
        return;
      }
      if (path.equals("/loop")) {
        ex.getResponseHeaders().set("Location", "/loop");
        ex.sendResponseHeaders(302, -1);
        return;
      }
      if (path.startsWith("/denied/")) {
        ex.sendResponseHeaders(403, -1);
        return;
      }
      if (failEvery > 0 && n % failEvery == 0) {
        ex.sendResponseHeaders(503, -1);
        return;
      }
      Path file = files.get(path);
      if (file == null || !Files.exists(file)) {
        ex.sendResponseHeaders(404, -1);
        return;
      }
      long size = Files.size(file);
      int generation = generations.get(path);
      String etag = "\"" + Long.toHexString(size) + "-" + generation + "\"";
      if (etags) {
        ex.getResponseHeaders().set("ETag", etag);
      }
      if (lastModified) {
        ex.getResponseHeaders()
            .set(
                "Last-Modified",
                HTTP_DATE.format(Instant.ofEpochSecond(1_700_000_000L + generation)));
      }
      String ifMatch = ex.getRequestHeaders().getFirst("If-Match");
      if (etags && ifMatch != null && !ifMatch.equals(etag)) {
        ex.sendResponseHeaders(412, -1);
        return;
      }
      long[] range = range(ex.getRequestHeaders().getFirst("Range"), size);
      if (range == null || ignoreRange) {
        send(ex, 200, file, 0, size);
      } else if (range[0] >= size || (wrong416 && range[0] > 0)) {
        ex.getResponseHeaders().set("Content-Range", "bytes */" + size);
        ex.sendResponseHeaders(416, -1);
      } else {
        long last = Math.min(range[1], size - 1);
        ex.getResponseHeaders().set("Content-Range", "bytes " + range[0] + "-" + last + "/" + size);
        send(ex, 206, file, range[0], last - range[0] + 1);
      }
    } catch (IOException e) {
      // The client hung up (as it must on a body it does not want).
    }
  }

  /** {first, last} of a single "bytes=a-b" or "bytes=a-" range, or null. */
  private static long[] range(String header, long size) {
    if (header == null || !header.startsWith("bytes=") || header.contains(",")) {
      return null;
    }
    String r = header.substring(6);
    int dash = r.indexOf('-');
    if (dash <= 0) {
      return null;
    }
    long first = Long.parseLong(r.substring(0, dash));
    long last = dash == r.length() - 1 ? size - 1 : Long.parseLong(r.substring(dash + 1));
    return new long[] {first, last};
  }

  private void send(HttpExchange ex, int status, Path file, long from, long length)
      throws IOException {
    ex.sendResponseHeaders(status, length == 0 ? -1 : length);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
        OutputStream out = ex.getResponseBody()) {
      ByteBuffer buf = ByteBuffer.allocate(64 << 10);
      long at = from;
      long end = from + length;
      while (at < end) {
        buf.clear().limit((int) Math.min(buf.capacity(), end - at));
        int n = ch.read(buf, at);
        if (n <= 0) {
          break;
        }
        out.write(buf.array(), 0, n);
        bytesSent.addAndGet(n);
        at += n;
      }
    }
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }
}
