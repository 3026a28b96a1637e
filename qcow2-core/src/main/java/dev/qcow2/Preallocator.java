package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * qemu-img create's preallocation: every L2 table and data cluster of an empty image allocated up
 * front. Part of {@link ImageWriter}, under its rules.
 */
final class Preallocator {
  private final ImageWriter w;
  private final Qcow2Image image;
  private final ClusterGeometry g;

  Preallocator(ImageWriter w) {
    this.w = w;
    this.image = w.image;
    this.g = w.g;
  }

  /**
   * Allocates every L2 table and every data cluster of an empty image, as qemu-img create's
   * preallocation does: each L2 table followed by the clusters it maps. The data clusters read as
   * zeros: the file is extended sparsely ({@code METADATA}) or zeros are written to them ({@code
   * FALLOC} and {@code FULL}; the JDK cannot ask the file system to allocate without writing). With
   * extended L2 the clusters are allocated but their subclusters are not, so they still read from
   * the backing file.
   */
  void preallocate(CreateOptions.Preallocation mode) throws IOException {
    w.beforeChange();
    long size = image.size();
    long clusters = (size + g.clusterSize - 1) >>> g.clusterBits;
    int k = g.extendedL2 ? 2 : 1;
    ByteBuffer zeros =
        mode == CreateOptions.Preallocation.METADATA ? null : ByteBuffer.allocateDirect(1 << 20);
    for (long c = 0; c < clusters; ) {
      int l1Index = (int) (c / g.l2Entries);
      long[] table = w.l2ForWrite(l1Index);
      int count = (int) Math.min(g.l2Entries - c % g.l2Entries, clusters - c);
      long host = w.dataHost(c << g.clusterBits, count);
      for (int i = 0; i < count; i++) {
        table[k * (int) ((c + i) % g.l2Entries)] =
            L2Entry.owned(host + ((long) i << g.clusterBits));
      }
      long end = host + ((long) count << g.clusterBits);
      if (zeros != null) {
        for (long at = host; at < end; at += zeros.capacity()) {
          w.writeData(zeros.clear().limit((int) Math.min(zeros.capacity(), end - at)), at);
        }
      } else if (end > w.data.size()) {
        w.data.truncate(end);
      }
      c += count;
    }
    w.flush();
  }
}
