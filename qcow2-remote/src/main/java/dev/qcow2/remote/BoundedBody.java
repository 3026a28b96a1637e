package dev.qcow2.remote;

import java.io.IOException;
import java.net.http.HttpResponse.BodySubscriber;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;

/**
 * A response body copied straight into the caller's buffers (a {@link Target}), at most {@code
 * limit} bytes; the result is the number of bytes received. A body that runs longer is cut off (the
 * subscription is cancelled, which closes the connection) and fails; a limit of 0 cancels at once,
 * which is how answers whose body we do not want (errors, a whole object sent for a range) are left
 * unread.
 *
 * <p>The bytes go from the client's own buffers to their place in the block cache in one copy, with
 * no array of the body's own in between.
 */
final class BoundedBody implements BodySubscriber<Integer> {
  private final CompletableFuture<Integer> result = new CompletableFuture<>();
  private final Target target;
  private final int limit;
  private int filled;
  private Flow.Subscription subscription;

  BoundedBody(Target target, int limit) {
    this.target = target;
    this.limit = limit;
  }

  /**
   * Where one request's body goes: copies of the caller's buffers, so that a failed attempt leaves
   * the caller's positions as they were. Once {@link #abandon}ed (the caller stopped waiting, and
   * may send the request again into the same memory) a late answer writes nothing more.
   */
  static final class Target {
    private final ByteBuffer[] buffers;
    private int current;
    private boolean abandoned;

    Target(ByteBuffer[] callers) {
      this.buffers = new ByteBuffer[callers.length];
      for (int i = 0; i < callers.length; i++) {
        buffers[i] = callers[i].duplicate();
      }
    }

    synchronized void abandon() {
      abandoned = true;
    }

    /** Copies {@code b} into the buffers in order; false once abandoned. */
    private synchronized boolean put(ByteBuffer b) {
      if (abandoned) {
        return false;
      }
      while (b.hasRemaining()) {
        ByteBuffer t = buffers[current];
        if (!t.hasRemaining()) {
          current++;
          continue;
        }
        int n = Math.min(t.remaining(), b.remaining());
        t.put(b.duplicate().limit(b.position() + n));
        b.position(b.position() + n);
      }
      return true;
    }
  }

  @Override
  public CompletionStage<Integer> getBody() {
    return result;
  }

  @Override
  public void onSubscribe(Flow.Subscription s) {
    this.subscription = s;
    if (limit == 0) {
      s.cancel();
      result.complete(0);
    } else {
      s.request(Long.MAX_VALUE);
    }
  }

  @Override
  public void onNext(List<ByteBuffer> items) {
    if (result.isDone()) {
      return;
    }
    for (ByteBuffer b : items) {
      int n = b.remaining();
      if (n > limit - filled) {
        fail(new IOException("the body runs past the " + limit + " bytes asked for"));
        return;
      }
      if (!target.put(b)) {
        fail(new IOException("abandoned"));
        return;
      }
      filled += n;
    }
  }

  private void fail(IOException e) {
    subscription.cancel();
    result.completeExceptionally(e);
  }

  @Override
  public void onError(Throwable t) {
    result.completeExceptionally(t);
  }

  @Override
  public void onComplete() {
    result.complete(filled);
  }
}
