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
   * Where two disks first differ, as qemu-img compare reports it. Past the end of the shorter disk
   * the longer one must read zeros to be the same.
   *
   * @param a one disk, which stays open
   * @param b the other disk, which stays open
   * @return the guest offset of the first 512-byte sector where the disks differ, or -1 if they
   *     read the same
   * @throws IOException if either disk cannot be read
   */
  public static long firstDifference(DiskImage a, DiskImage b) throws IOException {
    long at = firstDifferenceInCommonPart(a, b);
    if (at >= 0 || a.size() == b.size()) {
      return at;
    }
    return firstNonZeroSector(a.size() > b.size() ? a : b, Math.min(a.size(), b.size()));
  }

  /**
   * As {@link #firstDifference}, over the part both disks have.
   *
   * @param a one disk, which stays open
   * @param b the other disk, which stays open
   * @return the guest offset of the first differing 512-byte sector below the smaller size, or -1
   * @throws IOException if either disk cannot be read
   */
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

  /** The first difference strict mode finds: in block status, or in content. */
  public record StrictDifference(boolean status, long offset) {}

  /**
   * qemu-img compare -s over disks of the same size: walking both in runs, the first place where
   * the block status differs (data, zero, allocated, stored at a host offset, reaching the end), or
   * where the content differs, whichever comes first; null if neither does.
   *
   * @param a one disk, which stays open
   * @param b the other disk, which stays open
   * @return the first difference, or null if the disks match in status and content
   * @throws IOException if either disk cannot be read
   */
  public static StrictDifference firstStrictDifference(DiskImage a, DiskImage b)
      throws IOException {
    long size = Math.min(a.size(), b.size());
    ByteBuffer x = ByteBuffer.allocateDirect(CHUNK);
    ByteBuffer y = ByteBuffer.allocateDirect(CHUNK);
    for (long at = 0; at < size; ) {
      BlockStatus sa = a.blockStatus(at, size - at);
      BlockStatus sb = b.blockStatus(at, size - at);
      if (flags(sa, a.size()) != flags(sb, b.size())) {
        return new StrictDifference(true, at);
      }
      long run = Math.min(sa.length(), sb.length());
      if (!(sa.zero() && sb.zero()) && sa.present()) {
        for (long done = 0; done < run; ) {
          int n = (int) Math.min(CHUNK, run - done);
          x.clear().limit(n);
          y.clear().limit(n);
          a.readFully(x, at + done);
          b.readFully(y, at + done);
          int i = x.flip().mismatch(y.flip());
          if (i >= 0) {
            return new StrictDifference(false, (at + done + i) & ~511L);
          }
          done += n;
        }
      }
      at += run;
    }
    return null;
  }

  /** qemu's BDRV_BLOCK_* bits for a run: DATA 1, ZERO 2, OFFSET_VALID 4, ALLOCATED 16, EOF 32. */
  private static int flags(BlockStatus s, long size) {
    return (s.data() ? 1 : 0)
        | (s.zero() ? 2 : 0)
        | (s.hasHostOffset() && !s.compressed() ? 4 : 0)
        | (s.present() ? 16 : 0)
        | (s.start() + s.length() == size ? 32 : 0);
  }

  /**
   * The first 512-byte sector from {@code from} on that does not read as zeros: what qemu-img
   * compare reports when one disk is longer.
   *
   * @param longer the disk to scan, which stays open
   * @param from the guest offset to start at, in bytes
   * @return the offset of that sector, or -1 if the rest reads as zeros
   * @throws IOException if the disk cannot be read
   */
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
