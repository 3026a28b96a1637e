package dev.qcow2.convert;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;

/** Zero blocks: finding them in guest data, and making them where a read is skipped. */
final class Zeros {
  /** Read only through duplicates and slices: shared by every thread. */
  private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(1 << 16);

  private Zeros() {}

  /**
   * Whether b[from, to) is all zeros. Data nearly always shows a non-zero byte in its first word,
   * so that word is tested alone first: slicing for ByteBuffer.mismatch costs more than that. The
   * rest is compared with a zero buffer by mismatch, which the JDK vectorizes even under the client
   * compiler the command-line launchers use (measured per GiB, C1: a loop over longs scans zeros in
   * 0.49 s, mismatch in 0.06 s; mismatch alone spends 0.06 s on data that this first test rejects
   * in 0.01 s).
   */
  static boolean isZero(ByteBuffer b, int from, int to) {
    if (to - from >= 8 && b.getLong(from) != 0) {
      return false;
    }
    int length = to - from;
    int at = 0;
    while (at < length) {
      int n = Math.min(length - at, ZEROS.capacity());
      if (b.slice(from + at, n).mismatch(ZEROS.slice(0, n)) >= 0) {
        return false;
      }
      at += n;
    }
    return true;
  }

  /** Fills the remaining bytes of {@code part} with zeros. */
  static void fill(ByteBuffer part) {
    while (part.hasRemaining()) {
      part.put(ZEROS.duplicate().limit(Math.min(part.remaining(), ZEROS.capacity())));
    }
  }

  /** Writes {@code length} zeros to {@code out}. */
  static void write(WritableByteChannel out, long length) throws IOException {
    long left = length;
    while (left > 0) {
      ByteBuffer b = ZEROS.duplicate().limit((int) Math.min(left, ZEROS.capacity()));
      left -= b.remaining();
      while (b.hasRemaining()) {
        out.write(b);
      }
    }
  }
}
