package dev.qcow2.remote;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A body scattered into the caller's buffers, bounded, and silenced once abandoned. */
@Timeout(10)
class BoundedBodyTest {
  private static final class Subscription implements Flow.Subscription {
    final AtomicBoolean cancelled = new AtomicBoolean();

    @Override
    public void request(long n) {}

    @Override
    public void cancel() {
      cancelled.set(true);
    }
  }

  private static ByteBuffer bytes(int from, int count) {
    ByteBuffer b = ByteBuffer.allocate(count);
    for (int i = 0; i < count; i++) {
      b.put((byte) (from + i));
    }
    return b.flip();
  }

  @Test
  void piecesThatCrossBufferBoundariesLandInOrder() throws Exception {
    ByteBuffer[] dsts = {ByteBuffer.allocate(3), ByteBuffer.allocate(5), ByteBuffer.allocate(2)};
    dsts[1].position(1); // the caller's positions are where filling starts
    BoundedBody body = new BoundedBody(new BoundedBody.Target(dsts), 9);
    body.onSubscribe(new Subscription());
    body.onNext(List.of(bytes(0, 4), bytes(4, 2)));
    body.onNext(List.of(bytes(6, 3)));
    body.onComplete();
    assertEquals(9, body.getBody().toCompletableFuture().get());
    assertArrayEquals(new byte[] {0, 1, 2}, dsts[0].array());
    assertArrayEquals(new byte[] {0, 3, 4, 5, 6}, dsts[1].array());
    assertArrayEquals(new byte[] {7, 8}, dsts[2].array());
    // The caller's own positions do not move: it advances them by the count it accepts.
    assertEquals(0, dsts[0].position());
    assertEquals(1, dsts[1].position());
  }

  @Test
  void aBodyLongerThanAskedIsCutOffAndFails() {
    ByteBuffer[] dsts = {ByteBuffer.allocate(4)};
    BoundedBody body = new BoundedBody(new BoundedBody.Target(dsts), 4);
    Subscription s = new Subscription();
    body.onSubscribe(s);
    body.onNext(List.of(bytes(1, 3)));
    body.onNext(List.of(bytes(4, 2)));
    assertTrue(s.cancelled.get());
    ExecutionException e =
        assertThrows(ExecutionException.class, () -> body.getBody().toCompletableFuture().get());
    assertTrue(e.getCause().getMessage().contains("runs past the 4 bytes"), e.getMessage());
  }

  @Test
  void anAbandonedTargetTakesNoLateBytes() {
    ByteBuffer[] dsts = {ByteBuffer.allocate(4)};
    BoundedBody.Target target = new BoundedBody.Target(dsts);
    BoundedBody body = new BoundedBody(target, 4);
    Subscription s = new Subscription();
    body.onSubscribe(s);
    target.abandon(); // the caller timed out and may be retrying into the same memory
    body.onNext(List.of(bytes(9, 4)));
    assertArrayEquals(new byte[4], dsts[0].array());
    assertTrue(s.cancelled.get());
    assertTrue(body.getBody().toCompletableFuture().isCompletedExceptionally());
  }

  @Test
  void aLimitOfZeroCancelsAtOnce() throws Exception {
    BoundedBody body = new BoundedBody(new BoundedBody.Target(new ByteBuffer[0]), 0);
    Subscription s = new Subscription();
    body.onSubscribe(s);
    assertTrue(s.cancelled.get());
    assertEquals(0, body.getBody().toCompletableFuture().get());
  }
}
