package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Counts, for every host cluster, the references that the image's metadata makes to it, as qemu-img
 * check does: the header, the active L1 table and every snapshot's, each L2 table once per L1 entry
 * naming it and each data cluster once per L2 entry, every host cluster that compressed data
 * touches, the snapshot table, and the bitmaps while their extension is valid. The refcount table
 * and blocks are counted only when asked, so that a rebuild can replace them.
 *
 * <p>Memory is one int per host cluster up to the highest one referenced, which is bounded by the
 * file size because references past the end of the file are refused.
 */
final class ReferenceWalk {
  private final String image;
  private final Storage storage;
  private final Header h;
  private final ClusterGeometry g;
  private final long fileSize;
  private int[] refs = new int[16];
  private long highest = -1;

  /** When set, problems are recorded here instead of thrown (for check). */
  private final java.util.List<String> problems;

  private int corruptions;

  /** The metadata structure (kind and offset) first found in each metadata cluster. */
  private final Map<Long, Owner> metadataOwner = new HashMap<>();

  /** Clusters that two different metadata structures share, with what they are. */
  private final TreeMap<Long, String> overlaps = new TreeMap<>();

  /**
   * The structures whose overlaps are tracked. Not the refcount structures: a refcount block over
   * another structure is a walk problem already, and -r all rebuilds, leaving the old ones.
   */
  private static final EnumSet<Structure> METADATA =
      EnumSet.of(
          Structure.HEADER,
          Structure.L1_TABLE,
          Structure.L2_TABLE,
          Structure.SNAPSHOT_TABLE,
          Structure.BITMAP_DIRECTORY);

  private record Owner(Structure what, long offset) {
    String text() {
      return what.text() + " at 0x" + Long.toHexString(offset);
    }
  }

  private ReferenceWalk(
      String image,
      Storage storage,
      Header h,
      ClusterGeometry g,
      long fileSize,
      java.util.List<String> problems) {
    this.image = image;
    this.storage = storage;
    this.h = h;
    this.g = g;
    this.fileSize = fileSize;
    this.problems = problems;
  }

  /**
   * Counts all references.
   *
   * @param l1 the active L1 table as it is now (possibly newer than the file)
   * @param cache where changed L2 tables may be (a writer's cache), or null
   * @param includeRefcountStructures whether the refcount table and blocks count
   */
  static ReferenceWalk count(
      String image,
      Storage storage,
      Header h,
      ClusterGeometry g,
      long[] l1,
      List<Snapshot> snapshots,
      L2Cache cache,
      boolean includeRefcountStructures,
      long[] refcountTable)
      throws IOException {
    return count(
        image, storage, h, g, l1, snapshots, cache, includeRefcountStructures, refcountTable, null);
  }

  /**
   * As {@link #count}, but problems found on the way (misaligned tables, references past the end of
   * the file) are added to {@code problems} as qemu-img check words them, and counted as
   * corruptions, instead of being thrown; the walk skips what they point to.
   */
  static ReferenceWalk count(
      String image,
      Storage storage,
      Header h,
      ClusterGeometry g,
      long[] l1,
      List<Snapshot> snapshots,
      L2Cache cache,
      boolean includeRefcountStructures,
      long[] refcountTable,
      List<String> problems)
      throws IOException {
    ReferenceWalk w =
        new ReferenceWalk(image, storage, h, g, Math.max(storage.size(), 1), problems);
    w.add(0, g.clusterSize, Structure.HEADER);
    w.addL1(h.l1TableOffset(), l1, cache);
    for (Snapshot s : snapshots) {
      long[] snapshotL1 = w.readTable(s.l1TableOffset(), s.l1Size(), Structure.SNAPSHOT_TABLE);
      w.addL1(s.l1TableOffset(), snapshotL1, null);
    }
    if (h.nbSnapshots() > 0) {
      w.add(h.snapshotsOffset(), snapshotTableBytes(storage, h), Structure.SNAPSHOT_TABLE);
    }
    if ((h.autoclearFeatures() & FeatureBits.AUTOCLEAR_BITMAPS) != 0) {
      w.addBitmaps();
    }
    ImageEncryption.Region luks = ImageEncryption.region(h);
    if (luks != null) {
      w.add(luks.offset(), luks.length(), Structure.ENCRYPTION_HEADER);
    }
    if (includeRefcountStructures) {
      w.add(
          h.refcountTableOffset(),
          (long) h.refcountTableClusters() << g.clusterBits,
          Structure.REFCOUNT_TABLE);
      for (int i = 0; i < refcountTable.length; i++) {
        long block = refcountTable[i] & ~0x1ffL;
        if (block != 0) {
          w.add(block, g.clusterSize, Structure.REFCOUNT_BLOCK);
          // A refcount block must be its cluster's only user (qemu's check_refblocks): one that
          // lies over another structure is a corruption, and only a rebuild mends it.
          long cluster = block >>> g.clusterBits;
          if (problems != null
              && g.isClusterAligned(block)
              && cluster < w.refs.length
              && w.references(cluster) != 1) {
            w.problem(
                Structure.REFCOUNT_BLOCK,
                block,
                "ERROR refcount block " + i + " refcount=" + w.references(cluster));
          }
        }
      }
    }
    return w;
  }

  /** References to host cluster {@code cluster}. */
  int references(long cluster) {
    return cluster < refs.length ? refs[(int) cluster] : 0;
  }

  /**
   * This walk with every count capped at {@code max}, the largest refcount the image's refcount
   * width can hold (1 with refcount_bits=1), for a rebuild: a stored count must never wrap around
   * to a small one, or to 0, which would make a cluster in use look free. A cluster referenced more
   * often than its refcount can say stays a corruption that check reports, as in qemu; its COPIED
   * flags follow the real count (this walk), so it is never written in place.
   */
  ReferenceWalk saturated(long max) {
    ReferenceWalk w = new ReferenceWalk(image, storage, h, g, fileSize, problems);
    w.refs = refs.clone();
    w.highest = highest;
    w.corruptions = corruptions;
    w.overlaps.putAll(overlaps);
    if (max >= 0 && max < Integer.MAX_VALUE) {
      for (int c = 0; c < w.refs.length; c++) {
        if (w.refs[c] > max) {
          w.refs[c] = (int) max;
        }
      }
    }
    return w;
  }

  /**
   * The host clusters that two different metadata structures share (say the active L1 table and the
   * snapshot table), each with a message naming both. No repair may write through such a cluster:
   * whatever it writes for one structure changes the other. (The same L2 table named by several L1
   * entries, or the same L1 table by several snapshots, is one structure.)
   */
  Map<Long, String> overlaps() {
    return overlaps;
  }

  /**
   * Whether any cluster that [offset, offset + bytes) touches is shared by two metadata structures.
   */
  boolean overlapsMetadata(long offset, long bytes) {
    if (overlaps.isEmpty() || bytes <= 0 || offset < 0) {
      return false;
    }
    long first = offset >>> g.clusterBits;
    long last = (offset + bytes - 1) >>> g.clusterBits;
    Long shared = overlaps.ceilingKey(first);
    return shared != null && shared <= last;
  }

  /** Problems recorded instead of thrown (see the lenient {@link #count}). */
  int corruptions() {
    return corruptions;
  }

  /** The highest host cluster index referenced, or -1. */
  long highest() {
    return highest;
  }

  private void addL1(long l1Offset, long[] l1, L2Cache cache) throws IOException {
    if (l1.length > 0) {
      add(l1Offset, (long) l1.length * 8, Structure.L1_TABLE);
    }
    int k = g.extendedL2 ? 2 : 1;
    for (int i = 0; i < l1.length; i++) {
      long l2Offset = L1Entry.l2Offset(l1[i]);
      if (l2Offset == 0) {
        continue;
      }
      if (!g.isClusterAligned(l2Offset) || l2Offset >= fileSize) {
        problem(
            Structure.L2_TABLE,
            l2Offset,
            "ERROR l2_offset="
                + Long.toHexString(l2Offset)
                + ": Table is not cluster aligned or lies past the end of the file; L1 entry corrupted");
        continue;
      }
      add(l2Offset, g.clusterSize, Structure.L2_TABLE);
      long[] table =
          cache != null
              ? cache.get(l2Offset)
              : readTable(l2Offset, g.clusterSize / 8, Structure.L2_TABLE);
      for (int j = 0; j < g.l2Entries; j++) {
        long e = table[k * j];
        if (L2Entry.isCompressed(e)) {
          add(
              CompressedDescriptor.sectorStart(e, g.clusterBits),
              CompressedDescriptor.sectorBytes(e, g.clusterBits),
              Structure.COMPRESSED_CLUSTER);
          continue;
        }
        long host = L2Entry.hostOffset(e);
        if (h.hasExternalDataFile()) {
          continue; // data clusters live in the data file, which has no refcounts
        }
        if (host != 0) {
          if (!g.isClusterAligned(host)) {
            problem(
                Structure.DATA_CLUSTER,
                host,
                "ERROR offset="
                    + Long.toHexString(host)
                    + ": Cluster is not properly aligned; L2 entry corrupted.");
            continue;
          }
          add(host, g.clusterSize, Structure.DATA_CLUSTER);
        }
      }
    }
  }

  private void addBitmaps() throws IOException {
    HeaderExtension ext = h.extension(HeaderExtension.BITMAPS);
    if (ext == null || ext.data().length < 24) {
      return;
    }
    ByteBuffer d = ByteBuffer.wrap(ext.data());
    long count = Integer.toUnsignedLong(d.getInt(0));
    long size = d.getLong(8);
    long offset = d.getLong(16);
    if (problems == null) {
      // A strict walk comes before a refcount rebuild on a writable open: a directory that the
      // open would refuse must be refused before the rebuild writes anything.
      BitmapDirectory.read(image, storage, h, g, storage.size());
    }
    if (size < 0
        || size > BitmapDirectory.MAX_DIRECTORY_BYTES
        || offset < 0
        || !g.isClusterAligned(offset)
        || offset > fileSize - size) {
      problem(
          Structure.BITMAP_DIRECTORY,
          ext.hostOffset(),
          "ERROR bitmap directory at 0x"
              + Long.toHexString(offset)
              + " with "
              + size
              + " bytes is not cluster-aligned or lies outside the file");
      return;
    }
    add(offset, size, Structure.BITMAP_DIRECTORY);
    ByteBuffer dir = ByteBuffer.allocate((int) size);
    storage.readOrZero(dir, offset);
    // A long: extra_data_size is a u32, and one entry may claim to run far past the directory.
    long at = 0;
    for (long i = 0; i < count && at + 24 <= size; i++) {
      long tableOffset = dir.getLong((int) at);
      int tableSize = dir.getInt((int) at + 8);
      int nameSize = dir.getShort((int) at + 18) & 0xffff;
      long extra = Integer.toUnsignedLong(dir.getInt((int) at + 20));
      if (tableSize > 0) {
        add(tableOffset, (long) tableSize * 8, Structure.BITMAP_DIRECTORY);
        long[] table = readTable(tableOffset, tableSize, Structure.BITMAP_DIRECTORY);
        for (long e : table) {
          long data = e & 0x00fffffffffffe00L;
          if (data != 0) {
            add(data, g.clusterSize, Structure.BITMAP_DIRECTORY);
          }
        }
      }
      at += (24 + extra + nameSize + 7) & ~7L;
    }
  }

  private static long snapshotTableBytes(Storage storage, Header h) throws IOException {
    long at = h.snapshotsOffset();
    ByteBuffer fixed = ByteBuffer.allocate(40);
    for (int i = 0; i < h.nbSnapshots(); i++) {
      fixed.clear();
      storage.readOrZero(fixed, at);
      long variable =
          Integer.toUnsignedLong(fixed.getInt(36))
              + (fixed.getShort(12) & 0xffff)
              + (fixed.getShort(14) & 0xffff);
      at += 40 + ((variable + 7) & ~7L);
    }
    return at - h.snapshotsOffset();
  }

  private void problem(Structure what, long offset, String message) throws CorruptImageException {
    if (problems == null) {
      throw new CorruptImageException(image, what, offset, message.replaceFirst("^ERROR ", ""));
    }
    problems.add(message);
    corruptions++;
  }

  private long[] readTable(long offset, int entries, Structure what) throws IOException {
    if (offset < 0
        || entries < 0
        || !g.isClusterAligned(offset)
        || offset >= fileSize
        || (long) entries * 8 > fileSize - offset) {
      if (problems != null) {
        problem(
            what,
            offset,
            "ERROR "
                + what.text()
                + " at 0x"
                + Long.toHexString(offset)
                + " lies outside the file or is not cluster-aligned");
        // Zeros stand in for the missing table (the walk indexes whole L2 tables); a claimed size
        // sizes at most 8 MiB of them, and a negative one none.
        return new long[entries <= 0 ? 0 : Math.min(entries, 1 << 20)];
      }
      throw new CorruptImageException(
          image, what, offset, "lies outside the file or is not cluster-aligned");
    }
    return ClusterMap.readTable(storage, offset, entries);
  }

  /** One more reference to every host cluster that [offset, offset + bytes) touches. */
  private void add(long offset, long bytes, Structure what) throws CorruptImageException {
    if (bytes <= 0) {
      return;
    }
    if (offset < 0 || offset >= fileSize + g.clusterSize) {
      problem(
          what,
          offset,
          "ERROR "
              + what.text()
              + " at 0x"
              + Long.toHexString(offset)
              + " is referenced but lies past the end of the file");
      return;
    }
    // Memory is one int per cluster up to the highest referenced: a claimed length may not reach
    // past the file (a compressed cluster's last sectors may, by less than two clusters).
    if (bytes > fileSize + 2L * g.clusterSize - offset) {
      problem(
          what,
          offset,
          "ERROR "
              + what.text()
              + " at 0x"
              + Long.toHexString(offset)
              + " with "
              + bytes
              + " bytes runs past the end of the file");
      return;
    }
    long first = offset >>> g.clusterBits;
    long last = (offset + bytes - 1) >>> g.clusterBits;
    if (last >= refs.length) {
      refs =
          Arrays.copyOf(
              refs, (int) Math.min(Integer.MAX_VALUE - 8, Math.max(last + 1, refs.length * 2L)));
    }
    boolean metadata = METADATA.contains(what);
    for (long c = first; c <= last; c++) {
      if (refs[(int) c] != Integer.MAX_VALUE) {
        refs[(int) c]++;
      }
      if (metadata) {
        Owner owner = new Owner(what, offset);
        Owner before = metadataOwner.putIfAbsent(c, owner);
        if (before != null && !before.equals(owner) && !overlaps.containsKey(c)) {
          overlaps.put(
              c,
              "ERROR cluster "
                  + c
                  + " is shared by the "
                  + before.text()
                  + " and the "
                  + owner.text()
                  + " (metadata overlap; -r all leaves the image as it is)");
        }
      }
    }
    highest = Math.max(highest, last);
  }
}
