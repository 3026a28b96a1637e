package dev.qcow2.nbd;

import java.util.Arrays;

/**
 * The status descriptors of one context in one NBD_REPLY_TYPE_BLOCK_STATUS chunk, built run by run:
 * consecutive from the request's offset, equal neighbours merged (the spec asks for different
 * values between consecutive descriptors), at most {@code max} of them. A run that would need one
 * more closes the list there, which the spec allows: the client asks again for the rest.
 */
final class Descriptors {
  private final int max;
  private long[] pairs;
  private int count;
  private boolean closed;

  Descriptors(int max) {
    this.max = max;
    this.pairs = new long[2 * Math.min(max, 64)];
  }

  /** Appends a run of {@code length} bytes with status {@code value}; false once closed. */
  boolean add(long length, long value) {
    if (closed) {
      return false;
    }
    if (length == 0) {
      return true;
    }
    if (count > 0 && pairs[2 * count - 1] == value) {
      pairs[2 * count - 2] += length;
      return true;
    }
    if (count == max) {
      closed = true;
      return false;
    }
    if (2 * count + 2 > pairs.length) {
      pairs = Arrays.copyOf(pairs, pairs.length * 2);
    }
    pairs[2 * count] = length;
    pairs[2 * count + 1] = value;
    count++;
    return true;
  }

  boolean closed() {
    return closed;
  }

  /** The (length, value) pairs. */
  long[] toArray() {
    return Arrays.copyOf(pairs, 2 * count);
  }
}
