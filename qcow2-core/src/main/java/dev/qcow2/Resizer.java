package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Growing and shrinking the virtual disk (QEMU's qcow2_co_truncate): the L1 table grows and moves
 * when it must, and one header write switches to the new size. Part of {@link ImageWriter}, under
 * its rules.
 */
final class Resizer {
  private final ImageWriter w;
  private final Qcow2Image image;
  private final ClusterGeometry g;

  Resizer(ImageWriter w) {
    this.w = w;
    this.image = w.image;
    this.g = w.g;
  }

  /** Refuses to resize a version 2 image with snapshots, as qemu does. */
  static void checkResizable(Qcow2Image image) throws UnsupportedImageException {
    Header h = image.header();
    if (h.version() < 3 && !image.snapshots().isEmpty()) {
      throw new UnsupportedImageException(
          image.filename(),
          Structure.SNAPSHOT_TABLE,
          h.snapshotsOffset(),
          "is in a version 2 image, whose snapshots do not record the disk size: it cannot be resized");
    }
  }

  /**
   * Grows the disk. If the L1 table is too small, a larger one is written to new clusters and made
   * durable with everything else first; then one header write switches size, l1_size and
   * l1_table_offset together (bytes 24 to 47); the old table's clusters are freed after that.
   */
  void resize(long newSize) throws IOException {
    w.beforeChange();
    long[] l1 = image.l1();
    long needed = g.l1EntriesFor(newSize);
    if (needed > QemuLimits.MAX_L1_ENTRIES) {
      throw new IllegalArgumentException(
          image.filename()
              + ": size "
              + newSize
              + " needs an L1 table of more than "
              + QemuLimits.MAX_L1_ENTRIES
              + " entries (qemu's limit)");
    }
    w.flush();
    long l1Offset = image.l1TableOffset();
    long[] newL1 = l1;
    if (needed > l1.length) {
      newL1 = java.util.Arrays.copyOf(l1, (int) needed);
      int clusters = (int) ((needed * 8 + g.clusterSize - 1) >>> g.clusterBits);
      long newOffset = w.allocate(clusters);
      ByteBuffer table = ByteBuffer.allocate(clusters << g.clusterBits);
      table.asLongBuffer().put(newL1);
      w.storage.write(table, newOffset);
      w.flush(); // the new table's refcounts are durable before the header names it (or lazy)
      // The table itself too: flush forces only what it wrote back, and with lazy refcounts it may
      // write nothing, which left a header naming a table a power cut had lost.
      w.storage.force();
      long oldClusters = ((long) l1.length * 8 + g.clusterSize - 1) >>> g.clusterBits;
      if (l1.length > 0) {
        w.refcounts.free(l1Offset >>> g.clusterBits, oldClusters);
      }
      l1Offset = newOffset;
    }
    image.updateHeader(new HeaderUpdate().size(newSize).l1Table(newL1.length, l1Offset));
    image.resized(newSize, newL1, l1Offset);
    w.flush(); // now the old table may be freed
  }

  /**
   * Shrinks the disk, as qemu does: every cluster from the first whole cluster past the new end is
   * made unallocated, L2 tables wholly past it are freed and their L1 entries cleared, all that
   * made durable; then one header write sets the new size. The L1 table keeps its length.
   */
  void shrink(long newSize) throws IOException {
    if (w.rawData) {
      throw new UnsupportedOperationException(
          image.filename() + ": an image with a raw data file cannot be shrunk");
    }
    w.beforeChange();
    long[] l1 = image.l1();
    long firstGone = (newSize + g.clusterSize - 1) & ~((long) g.clusterSize - 1);
    int k = g.extendedL2 ? 2 : 1;
    long keepTables = g.l1EntriesFor(newSize);
    for (int i = 0; i < l1.length; i++) {
      long l2Offset = L1Entry.l2Offset(l1[i]);
      long tableStart = (long) i * g.bytesPerL2Table();
      if (l2Offset == 0 || tableStart + g.bytesPerL2Table() <= firstGone) {
        continue;
      }
      if (i >= keepTables) {
        // The whole table lies past the end. The active layer drops its reference to the table
        // and, through it, to every cluster it reaches (a snapshot sharing them keeps its own).
        long[] table = image.clusterMap().l2Table(i, l2Offset);
        for (int j = 0; j < g.l2Entries; j++) {
          w.release(table[k * j]);
        }
        w.refcounts.free(l2Offset >>> g.clusterBits, 1);
        l1[i] = 0;
        w.dirtyL1.add(i);
        continue;
      }
      long[] table = w.l2ForWrite(i);
      for (int j = 0; j < g.l2Entries; j++) {
        long guest = tableStart + ((long) j << g.clusterBits);
        if (guest < firstGone) {
          continue;
        }
        w.release(table[k * j]);
        table[k * j] = 0;
        if (g.extendedL2) {
          table[2 * j + 1] = 0;
        }
      }
      w.flushIfCacheFull();
    }
    w.flush();
    image.updateHeader(new HeaderUpdate().size(newSize));
    image.resized(newSize, l1, image.l1TableOffset());
    w.flush(); // now the dropped clusters may be freed
  }
}
