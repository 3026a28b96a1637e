package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The COPIED flag (bit 63 of an L1 or standard L2 entry) says that the cluster it points at has a
 * refcount of exactly 1, so a writer may change it in place; a compressed cluster never has it.
 * qemu-img check counts a flag that disagrees with its refcount as corruption, either way round.
 * This sets the flags of the active tables from counted references, once a repair has made the
 * refcounts right (qemu's check_oflag_copied with BDRV_FIX_ERRORS): after {@code check -r all}, and
 * when a dirty image is opened for writing.
 */
final class CopiedFlags {
  private CopiedFlags() {}

  /**
   * Rewrites, in place, every active L1 and L2 entry whose COPIED flag disagrees with {@code refs},
   * then forces {@code out}. With an external data file the data clusters have no refcounts, and
   * their flags are left as they are.
   *
   * @return the entries rewritten
   */
  static int repair(
      Storage out,
      long l1Offset,
      long[] l1,
      ClusterGeometry g,
      boolean externalData,
      ReferenceWalk refs)
      throws IOException {
    int fixed = 0;
    int k = g.extendedL2 ? 2 : 1;
    for (int i = 0; i < l1.length; i++) {
      long l2Offset = L1Entry.l2Offset(l1[i]);
      if (l2Offset == 0) {
        continue;
      }
      long entry = L1Entry.withCopied(l1[i], refs.references(l2Offset >>> g.clusterBits) == 1);
      if (entry != l1[i]) {
        fixed++;
        writeLong(out, l1Offset + 8L * i, entry);
      }
      long[] table = ClusterMap.readTable(out, l2Offset, g.clusterSize / 8);
      for (int j = 0; j < g.l2Entries; j++) {
        long e = table[k * j];
        long want;
        if (L2Entry.isCompressed(e)) {
          want = L2Entry.withCopied(e, false);
        } else {
          long host = L2Entry.hostOffset(e);
          if (host == 0 || externalData) {
            continue;
          }
          want = L2Entry.withCopied(e, refs.references(host >>> g.clusterBits) == 1);
        }
        if (want != e) {
          fixed++;
          writeLong(out, l2Offset + 8L * k * j, want);
        }
      }
    }
    out.force();
    return fixed;
  }

  private static void writeLong(Storage out, long at, long value) throws IOException {
    out.write(ByteBuffer.allocate(8).putLong(0, value), at);
  }
}
