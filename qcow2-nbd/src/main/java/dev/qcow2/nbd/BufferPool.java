package dev.qcow2.nbd;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Direct buffers for request and reply data, kept for re-use in power-of-two sizes. Direct, so that
 * the image reads into them and the socket writes from them without the JDK's copies through a
 * temporary direct buffer; re-used, because allocating direct memory per request costs more than
 * the request. At most {@code maxPooled} bytes wait here; what is given back beyond that is left to
 * the garbage collector. Thread-safe.
 */
final class BufferPool {
  private static final int MIN_SHIFT = 12;
  private static final int MAX_SHIFT = 25; // Nbd.MAX_PAYLOAD

  @SuppressWarnings("unchecked")
  private final ConcurrentLinkedDeque<ByteBuffer>[] free =
      new ConcurrentLinkedDeque[MAX_SHIFT - MIN_SHIFT + 1];

  private final AtomicLong pooled = new AtomicLong();
  private final long maxPooled;

  BufferPool(long maxPooled) {
    this.maxPooled = maxPooled;
    for (int i = 0; i < free.length; i++) {
      free[i] = new ConcurrentLinkedDeque<>();
    }
  }

  /**
   * A buffer with {@code length} bytes between position 0 and its limit; its contents are stale.
   */
  ByteBuffer take(int length) {
    if (length > Nbd.MAX_PAYLOAD) {
      throw new IllegalArgumentException(
          "buffer of " + length + " bytes, more than " + Nbd.MAX_PAYLOAD);
    }
    int shift = Math.max(MIN_SHIFT, 32 - Integer.numberOfLeadingZeros(Math.max(length, 1) - 1));
    ByteBuffer b = free[shift - MIN_SHIFT].pollFirst();
    if (b == null) {
      b = ByteBuffer.allocateDirect(1 << shift);
    } else {
      pooled.addAndGet(-b.capacity());
    }
    return b.clear().limit(length);
  }

  /** Gives back a buffer from {@link #take}; null is ignored. */
  void give(ByteBuffer b) {
    if (b == null) {
      return;
    }
    if (pooled.addAndGet(b.capacity()) > maxPooled) {
      pooled.addAndGet(-b.capacity());
      return;
    }
    free[Integer.numberOfTrailingZeros(b.capacity()) - MIN_SHIFT].addFirst(b);
  }
}
