package dev.qcow2.convert;

import dev.qcow2.BlockStatus;
import dev.qcow2.DiskImage;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Compares what two disks read, as qemu-img compare does: guest content only (how it is stored does
 * not matter), and where the sizes differ, the longer disk's tail must read zeros.
 */
public final class ImageComparator {
  private static final int CHUNK = 1 << 20;

  private ImageComparator() {}

  /**
   * The guest offset of the first 512-byte sector where the disks differ, as qemu-img reports it,
   * or -1 if they read the same.
   */
  public static long firstDifference(DiskImage a, DiskImage b) throws IOException {
    long at = firstDifferenceInCommonPart(a, b);
    if (at >= 0 || a.size() == b.size()) {
      return at;
    }
    return firstNonZeroSector(a.size() > b.size() ? a : b, Math.min(a.size(), b.size()));
  }

  /** As {@link #firstDifference}, over the part both disks have. */
  public static long firstDifferenceInCommonPart(DiskImage a, DiskImage b) throws IOException {
    long common = Math.min(a.size(), b.size());
    ByteBuffer x = ByteBuffer.allocateDirect(CHUNK);
    ByteBuffer y = ByteBuffer.allocateDirect(CHUNK);
    for (long at = 0; at < common; ) {
      int n = (int) Math.min(CHUNK, common - at);
      BlockStatus sa = a.blockStatus(at, n);
      BlockStatus sb = b.blockStatus(at, n);
      int run = (int) Math.min(sa.length(), sb.length());
      if (isZero(sa) && isZero(sb)) {
        at += run; // both read zeros without being read
        continue;
      }
      x.clear().limit(run);
      y.clear().limit(run);
      a.readFully(x, at);
      b.readFully(y, at);
      int i = x.flip().mismatch(y.flip());
      if (i >= 0) {
        return (at + i) & ~511L;
      }
      at += run;
    }
    return -1;
  }

  /** The offset of the first 512-byte sector from {@code from} on that does not read as zeros, or -1. */
  public static long firstNonZeroSector(DiskImage longer, long from) throws IOException {
    ByteBuffer x = ByteBuffer.allocateDirect(CHUNK);
    for (long at = from; at < longer.size(); ) {
      int n = (int) Math.min(CHUNK, longer.size() - at);
      BlockStatus s = longer.blockStatus(at, n);
      int run = (int) s.length();
      if (!isZero(s)) {
        x.clear().limit(run);
        longer.readFully(x, at);
        for (int i = 0; i < run; i++) {
          if (x.get(i) != 0) {
            return (at + i) & ~511L;
          }
        }
      }
      at += run;
    }
    return -1;
  }

  private static boolean isZero(BlockStatus s) {
    return s.zero() && !s.data();
  }
}
