package dev.qcow2.remote;

import java.io.IOException;
import java.net.http.HttpResponse.BodySubscriber;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;

/**
 * A response body read into an array of at most {@code limit} bytes. A body that runs longer is cut
 * off (the subscription is cancelled, which closes the connection) and fails; a limit of 0 cancels
 * at once, which is how answers whose body we do not want (errors, a whole object sent for a range)
 * are left unread.
 */
final class BoundedBody implements BodySubscriber<byte[]> {
  private final CompletableFuture<byte[]> result = new CompletableFuture<>();
  private final byte[] bytes;
  private int filled;
  private Flow.Subscription subscription;

  BoundedBody(int limit) {
    this.bytes = new byte[limit];
  }

  @Override
  public CompletionStage<byte[]> getBody() {
    return result;
  }

  @Override
  public void onSubscribe(Flow.Subscription s) {
    this.subscription = s;
    if (bytes.length == 0) {
      s.cancel();
      result.complete(bytes);
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
      if (n > bytes.length - filled) {
        subscription.cancel();
        result.completeExceptionally(
            new IOException("the body runs past the " + bytes.length + " bytes asked for"));
        return;
      }
      b.get(bytes, filled, n);
      filled += n;
    }
  }

  @Override
  public void onError(Throwable t) {
    result.completeExceptionally(t);
  }

  @Override
  public void onComplete() {
    result.complete(filled == bytes.length ? bytes : Arrays.copyOf(bytes, filled));
  }
}
