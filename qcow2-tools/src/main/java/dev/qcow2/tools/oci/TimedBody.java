package dev.qcow2.tools.oci;

import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * An answer's body as an {@link InputStream} whose every read waits at most {@code limit} for data.
 * The JDK's HTTP client times out only until the headers arrive, and its own body stream blocks for
 * ever when the registry stops sending (nor does an interrupt wake it on JDK 17): a read that waits
 * too long here cancels the exchange and throws {@link Stalled}. One list of buffers is asked for
 * at a time, so memory stays bounded by what the client hands over at once.
 */
final class TimedBody extends InputStream implements HttpResponse.BodySubscriber<InputStream> {
  /** A read that waited longer than the limit. */
  static final class Stalled extends IOException {
    private static final long serialVersionUID = 1L;

    Stalled(String message) {
      super(message);
    }
  }

  private static final List<ByteBuffer> END = List.of();

  private final long limitNanos;
  private final LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>();
  private volatile Flow.Subscription subscription;
  private Iterator<ByteBuffer> current;
  private ByteBuffer buffer;
  private boolean ended;

  TimedBody(Duration limit) {
    this.limitNanos = limit.toNanos();
  }

  static HttpResponse.BodyHandler<InputStream> handler(Duration limit) {
    return info -> new TimedBody(limit);
  }

  @Override
  public CompletionStage<InputStream> getBody() {
    return CompletableFuture.completedStage(this);
  }

  @Override
  public void onSubscribe(Flow.Subscription s) {
    subscription = s;
    s.request(1);
  }

  @Override
  public void onNext(List<ByteBuffer> item) {
    queue.add(item);
  }

  @Override
  public void onError(Throwable t) {
    queue.add(t);
  }

  @Override
  public void onComplete() {
    queue.add(END);
  }

  @Override
  public int read() throws IOException {
    byte[] one = new byte[1];
    return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    if (len == 0) {
      return 0;
    }
    while (buffer == null || !buffer.hasRemaining()) {
      if (current != null && current.hasNext()) {
        buffer = current.next();
        continue;
      }
      if (ended) {
        return -1;
      }
      next();
    }
    int n = Math.min(len, buffer.remaining());
    buffer.get(b, off, n);
    return n;
  }

  /** Takes the next list of buffers, waiting at most the limit. */
  private void next() throws IOException {
    Object item;
    try {
      item = queue.poll(limitNanos, TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      close();
      throw new IOException("interrupted", e);
    }
    if (item == null) {
      close();
      throw new Stalled("no data for " + TimeUnit.NANOSECONDS.toSeconds(limitNanos) + " s");
    }
    if (item instanceof Throwable t) {
      ended = true;
      throw t instanceof IOException io ? io : new IOException(t.getMessage(), t);
    }
    if (item == END) {
      ended = true;
      return;
    }
    @SuppressWarnings("unchecked")
    List<ByteBuffer> list = (List<ByteBuffer>) item;
    current = list.iterator();
    Flow.Subscription s = subscription;
    if (s != null) {
      s.request(1);
    }
  }

  @Override
  public void close() {
    Flow.Subscription s = subscription;
    if (s != null && !ended) {
      s.cancel();
    }
    ended = true;
  }
}
