package dev.qcow2.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The zero scan that decides holes and skipped clusters, against a byte-by-byte answer. */
class ZeroScanTest {

  @Test
  void everyRangeAndEveryNonZeroPositionOfHeapAndDirectBuffers() {
    for (ByteBuffer b :
        new ByteBuffer[] {ByteBuffer.allocate(200), ByteBuffer.allocateDirect(200)}) {
      for (int from = 0; from < 70; from++) {
        for (int to = from; to <= 200; to += 7) {
          assertEquals(true, ImageConverter.isZero(b, from, to), "zeros " + from + ".." + to);
        }
      }
      for (int at = 0; at < 200; at++) {
        b.put(at, (byte) 0x80);
        for (int from = 0; from <= at; from += 3) {
          for (int to = from; to <= 200; to += 5) {
            boolean expected = !(from <= at && at < to);
            assertEquals(
                expected,
                ImageConverter.isZero(b, from, to),
                "byte " + at + " in " + from + ".." + to);
          }
        }
        b.put(at, (byte) 0);
      }
    }
  }

  @Test
  void randomBlocksAgreeWithAByteLoop() {
    long seed = new Random().nextLong();
    Random r = new Random(seed);
    ByteBuffer b = ByteBuffer.allocateDirect(1 << 16);
    for (int round = 0; round < 2000; round++) {
      for (int i = 0; i < b.capacity(); i++) {
        b.put(i, (byte) 0);
      }
      int writes = r.nextInt(3);
      for (int i = 0; i < writes; i++) {
        b.put(r.nextInt(b.capacity()), (byte) (1 + r.nextInt(255)));
      }
      int from = r.nextInt(b.capacity());
      int to = from + r.nextInt(b.capacity() - from + 1);
      boolean expected = true;
      for (int i = from; i < to; i++) {
        expected &= b.get(i) == 0;
      }
      assertEquals(
          expected, ImageConverter.isZero(b, from, to), "seed " + seed + ", round " + round);
    }
  }
}
