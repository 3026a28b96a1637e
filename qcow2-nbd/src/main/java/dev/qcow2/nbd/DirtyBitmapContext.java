package dev.qcow2.nbd;

import dev.qcow2.Bitmap;
import dev.qcow2.BitmapExtent;
import dev.qcow2.DiskImage;
import dev.qcow2.Qcow2Image;
import java.io.IOException;

/**
 * The runs of one {@code qemu:dirty-bitmap:NAME} context: the persistent dirty bitmap NAME of the
 * served image, or of the nearest image below it in the backing chain, read through the library's
 * {@link dev.qcow2.DirtyBitmaps}. An enabled bitmap of a writable export also marks the writes made
 * through the server, as qemu-nbd's does.
 */
final class DirtyBitmapContext {
  /**
   * Granules asked of the library at a time, so that a request over a large, fragmented bitmap
   * never holds more than this many runs in memory.
   */
  private static final long GRANULES_PER_LOOKUP = 1 << 15;

  private final Qcow2Image owner;
  private final String name;
  private final long window;

  private DirtyBitmapContext(Qcow2Image owner, String name, long granularity) {
    this.owner = owner;
    this.name = name;
    this.window = granularity * GRANULES_PER_LOOKUP;
  }

  /**
   * Finds bitmap {@code name} as qemu-nbd's {@code -B} does, and refuses it in qemu-nbd's words if
   * it is missing, inconsistent (left in use by a writer that did not close the image), or enabled
   * on an image that is writable but exported read-only (its bits could change under the client).
   */
  static DirtyBitmapContext find(DiskImage image, String name, boolean readOnlyExport)
      throws IOException {
    for (DiskImage d = image; d != null; d = d.backing()) {
      if (d instanceof Qcow2Image q) {
        for (Bitmap b : q.bitmaps()) {
          if (b.name().equals(name)) {
            return found(q, b, readOnlyExport);
          }
        }
      }
    }
    throw new IllegalArgumentException("Bitmap '" + name + "' is not found");
  }

  private static DirtyBitmapContext found(Qcow2Image q, Bitmap b, boolean readOnlyExport)
      throws IOException {
    // The library owns the in-use rule: an empty query refuses an inconsistent bitmap in qemu's
    // words ("Bitmap 'NAME' is inconsistent and cannot be used").
    try {
      q.dirtyBitmaps().dirtyExtents(b.name(), 0, 0);
    } catch (IllegalStateException e) {
      throw new IllegalArgumentException(e.getMessage(), e);
    }
    if (readOnlyExport && q.isWritable() && b.auto()) {
      throw new IllegalArgumentException(
          "Enabled bitmap '" + b.name() + "' incompatible with readonly export");
    }
    return new DirtyBitmapContext(q, b.name(), b.granularity());
  }

  /**
   * Adds the runs of [offset, offset + length) to {@code out}, until it closes. A guest range past
   * the end of a smaller backing image reads clean.
   */
  void extents(long offset, long length, Descriptors out) throws IOException {
    long end = offset + length;
    long bitmapEnd = Math.min(end, owner.size());
    for (long pos = offset; pos < end; ) {
      long stop = pos < bitmapEnd ? Math.min(bitmapEnd, pos + window) : end;
      if (pos < bitmapEnd) {
        for (BitmapExtent e : owner.dirtyBitmaps().dirtyExtents(name, pos, stop - pos)) {
          if (!out.add(e.offset() - pos, 0) || !out.add(e.length(), Nbd.STATE_DIRTY)) {
            return;
          }
          pos = e.offset() + e.length();
        }
      }
      if (!out.add(stop - pos, 0)) {
        return;
      }
      pos = stop;
    }
  }
}
