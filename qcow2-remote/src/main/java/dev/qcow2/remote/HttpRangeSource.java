package dev.qcow2.remote;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandler;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A resource on an HTTP(S) server read with range requests, over {@code java.net.http} (HTTP/1.1,
 * through the proxy the usual variables name: see {@link ProxyVariables}).
 *
 * <p>Every request is bounded: a connect time-out, one time limit from sending to the last byte of
 * the body, and a body never longer than the range asked for. Connection failures, time-outs and
 * 5xx (and 408, 429) answers are retried a few times with exponential backoff; 4xx answers fail at
 * once with one line naming the URL ({@link NoSuchObjectException} for 404 and 410, {@link
 * ObjectAccessDeniedException} for 401 and 403). Redirects are followed up to a bound, from the
 * address given each time (a presigned or CDN target may be short-lived).
 *
 * <p>The first request pins the object's version ({@link ObjectVersion}); a server that ignores
 * Range (200 and the whole object) or answers 416 for a range inside the object is refused with
 * {@link RangeNotSupportedException}, its body left unread. Thread-safe; {@link #close()} has
 * nothing to release but is honoured (reads after it fail).
 */
public final class HttpRangeSource implements RangeSource {
  private final URI uri;
  private final String name;
  private final RemoteOptions options;
  private final HttpClient client;
  private final Object pinLock = new Object();
  private volatile ObjectVersion pinned;
  private volatile boolean closed;

  private HttpRangeSource(URI uri, RemoteOptions options) {
    this.uri = uri;
    this.name = uri.toString();
    this.options = options;
    HttpClient.Builder client =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(options.connectTimeout())
            .followRedirects(HttpClient.Redirect.NEVER)
            .proxy(new ProxyVariables(options.environment()));
    client.sslContext(
        options.sslContext() != null ? options.sslContext() : LazyTrust.defaultContext());
    this.client = client.build();
  }

  /**
   * A source for {@code uri} (http or https); nothing is sent until the first read or {@link
   * #length()}.
   */
  public static HttpRangeSource open(URI uri, RemoteOptions options) {
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!(scheme.equals("http") || scheme.equals("https")) || uri.getHost() == null) {
      throw new IllegalArgumentException(uri + ": not an http or https URL with a host");
    }
    return new HttpRangeSource(uri, options);
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public long length() throws IOException {
    return pin().length();
  }

  @Override
  public void read(ByteBuffer[] dsts, long position) throws IOException {
    ObjectVersion pin = pin();
    long total = ScatterBuffers.remaining(dsts);
    if (position < 0 || position + total > pin.length()) {
      throw new IllegalArgumentException(
          name + ": bytes " + position + "+" + total + " lie outside the object's " + pin.length());
    }
    while (total > 0) {
      // A server may send fewer bytes than asked (RFC 9110 lets it); ask again for the rest.
      int got = fetch(position, (int) Math.min(total, Integer.MAX_VALUE), pin, dsts);
      ScatterBuffers.advance(dsts, got);
      position += got;
      total -= got;
    }
  }

  @Override
  public void close() {
    closed = true;
  }

  @Override
  public String toString() {
    return "HttpRangeSource[" + name + "]";
  }

  /** The pinned version, after the first contact if there was none yet. */
  private ObjectVersion pin() throws IOException {
    ObjectVersion p = pinned;
    if (p != null) {
      return p;
    }
    synchronized (pinLock) {
      if (pinned == null) {
        // One byte: enough to learn the length, ETag and Last-Modified, and to see whether the
        // server honours ranges at all.
        fetch(0, 1, null, new ByteBuffer[] {ByteBuffer.allocate(1)});
      }
      return pinned;
    }
  }

  /**
   * Fetches up to {@code length} bytes at {@code position} (at least one), retrying what may pass.
   * With {@code pin} null this is the first contact, which sets {@link #pinned}. The bytes go into
   * {@code dsts}, whose positions are left as they are; the count is returned.
   */
  private int fetch(long position, int length, ObjectVersion pin, ByteBuffer[] dsts)
      throws IOException {
    IOException last = null;
    for (int attempt = 0; attempt <= options.maxRetries(); attempt++) {
      if (closed) {
        throw new IOException(name + ": closed");
      }
      if (attempt > 0) {
        backoff(attempt);
      }
      try {
        return exchange(position, length, pin, new BoundedBody.Target(dsts));
      } catch (Retryable e) {
        last = e;
      }
    }
    throw new RemoteObjectException(
        name, last.getMessage() + " (after " + options.maxRetries() + " retries)", last.getCause());
  }

  private void backoff(int attempt) throws InterruptedIOException {
    long base = options.retryDelay().toMillis();
    long delay = Math.min(10_000, base << Math.min(attempt - 1, 20));
    try {
      Thread.sleep(delay);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException(name + ": interrupted while waiting to retry");
    }
  }

  /** One request, following redirects; a failure worth retrying is thrown as {@link Retryable}. */
  private int exchange(long position, int length, ObjectVersion pin, BoundedBody.Target body)
      throws IOException {
    URI target = uri;
    for (int hop = 0; ; hop++) {
      HttpResponse<Integer> r = send(target, position, length, pin, body);
      int status = r.statusCode();
      if (status >= 300 && status < 400 && status != 304) {
        target = redirect(target, r, hop);
        continue;
      }
      return answer(r, position, length, pin);
    }
  }

  private URI redirect(URI from, HttpResponse<?> r, int hop) throws IOException {
    String location = r.headers().firstValue("Location").orElse(null);
    if (location == null) {
      throw new RemoteObjectException(
          name, "HTTP " + r.statusCode() + " without a Location to follow");
    }
    if (hop >= options.maxRedirects()) {
      throw new RemoteObjectException(name, "more than " + options.maxRedirects() + " redirects");
    }
    URI next;
    try {
      next = from.resolve(location);
    } catch (IllegalArgumentException e) {
      throw new RemoteObjectException(
          name, "redirected to a malformed address \"" + location + "\"");
    }
    String scheme = next.getScheme() == null ? "" : next.getScheme().toLowerCase(Locale.ROOT);
    if (!(scheme.equals("http") || scheme.equals("https")) || next.getHost() == null) {
      throw new RemoteObjectException(
          name, "redirected to \"" + location + "\", which is not an http or https URL");
    }
    if (from.getScheme().equalsIgnoreCase("https") && scheme.equals("http")) {
      throw new RemoteObjectException(
          name, "redirected from https to plain http (" + next + "), which is not followed");
    }
    return next;
  }

  private HttpResponse<Integer> send(
      URI target, long position, int length, ObjectVersion pin, BoundedBody.Target body)
      throws IOException {
    Duration timeout = options.requestTimeout();
    HttpRequest.Builder rb =
        HttpRequest.newBuilder(target)
            .GET()
            .timeout(timeout)
            .header("Range", "bytes=" + position + "-" + (position + length - 1));
    String ifMatch = pin == null ? null : pin.ifMatch();
    if (ifMatch != null) {
      rb.header("If-Match", ifMatch);
    }
    CompletableFuture<HttpResponse<Integer>> f =
        client.sendAsync(rb.build(), bodyLimit(position, length, body));
    try {
      // The request's own time-out ends with the headers; this bounds the body as well.
      return f.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      body.abandon();
      f.cancel(true);
      Thread.currentThread().interrupt();
      throw new InterruptedIOException(name + ": interrupted");
    } catch (TimeoutException e) {
      body.abandon(); // a retry may write the same memory: a late answer must not
      f.cancel(true);
      throw new Retryable("no complete answer within " + timeout.toMillis() + " ms", e);
    } catch (ExecutionException e) {
      body.abandon();
      Throwable cause = e.getCause();
      throw new Retryable(
          cause.getClass().getSimpleName()
              + (cause.getMessage() != null ? ": " + cause.getMessage() : ""),
          cause);
    }
  }

  /**
   * How much of each answer's body is read: the range asked for from a 206, nothing from any other
   * answer, except a 200 for a range that starts at 0 and that the whole object fills exactly (a
   * server may answer so when a range covers all of it).
   */
  private static BodyHandler<Integer> bodyLimit(
      long position, int length, BoundedBody.Target body) {
    return info -> {
      int status = info.statusCode();
      long contentLength = info.headers().firstValueAsLong("Content-Length").orElse(-1);
      boolean whole = status == 200 && position == 0 && contentLength == length;
      return new BoundedBody(body, status == 206 || whole ? length : 0);
    };
  }

  /** Checks an answer that is not a redirect and returns how many bytes of it were kept. */
  private int answer(HttpResponse<Integer> r, long position, int length, ObjectVersion pin)
      throws IOException {
    int status = r.statusCode();
    String etag = r.headers().firstValue("ETag").orElse(null);
    String lastModified = r.headers().firstValue("Last-Modified").orElse(null);
    String range = "bytes " + position + "-" + (position + length - 1);
    switch (status) {
      case 206 -> {
        ContentRange cr = ContentRange.parse(r.headers().firstValue("Content-Range").orElse(null));
        if (cr == null || cr.first() != position || cr.last() > position + length - 1) {
          throw new RangeNotSupportedException(
              name,
              "the server answered "
                  + range
                  + " with Content-Range \""
                  + r.headers().firstValue("Content-Range").orElse("")
                  + "\"; range requests are not served correctly");
        }
        int body = r.body();
        if (body != cr.size()) {
          throw new Retryable(
              "the answer for " + range + " ended after " + body + " of " + cr.size() + " bytes",
              null);
        }
        accept(pin, etag, lastModified, cr.length());
        return body;
      }
      case 200 -> {
        if (r.body() != length) {
          throw new RangeNotSupportedException(
              name,
              "the server ignores range requests (it answered "
                  + range
                  + " with 200 and the whole object); it cannot be read lazily");
        }
        accept(pin, etag, lastModified, length);
        return length;
      }
      case 416 -> {
        ContentRange cr = ContentRange.parse(r.headers().firstValue("Content-Range").orElse(null));
        if (pin == null && cr != null && cr.length() == 0) {
          accept(null, etag, lastModified, 0);
          return 0;
        }
        throw new RangeNotSupportedException(
            name,
            "the server answered 416 (range not satisfiable) for "
                + range
                + (pin != null ? " of a " + pin.length() + "-byte object" : "")
                + "; range requests are not served correctly");
      }
      case 412 ->
          throw ObjectVersion.changed(
              name, "the server no longer matches ETag " + (pin == null ? "" : pin.etag()));
      case 404, 410 -> throw new NoSuchObjectException(name, "not found (HTTP " + status + ")");
      case 401, 403 ->
          throw new ObjectAccessDeniedException(name, "access denied (HTTP " + status + ")");
      case 408, 429 -> throw new Retryable("HTTP " + status, null);
      default -> {
        if (status >= 500) {
          throw new Retryable("HTTP " + status, null);
        }
        throw new RemoteObjectException(name, "unexpected answer HTTP " + status + " to " + range);
      }
    }
  }

  /** Pins the version on first contact, or refuses an answer from another version. */
  private void accept(ObjectVersion pin, String etag, String lastModified, long total)
      throws ObjectChangedException {
    if (pin == null) {
      pinned = new ObjectVersion(etag, lastModified, total);
    } else {
      pin.check(name, etag, lastModified, total);
    }
  }

  /** A failure that may pass if the request is sent again. */
  private static final class Retryable extends IOException {
    private static final long serialVersionUID = 1L;

    Retryable(String message, Throwable cause) {
      super(message, cause);
    }
  }
}
