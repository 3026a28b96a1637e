package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Checks an image's refcounts against the references its metadata makes, as qemu-img check does,
 * and repairs what it finds (QEMU's qcow2_check_refcounts).
 *
 * <p>Checking counts every reference ({@link ReferenceWalk}), compares each host cluster's stored
 * refcount with them (below: corruption; above: leak), checks the COPIED flags of the active
 * tables, and gathers qemu's statistics. Repairing {@link Repair#LEAKS} lowers leaked refcounts;
 * {@link Repair#ALL} also drops references to misaligned or out-of-file clusters (which qemu cannot
 * repair), rebuilds the refcount structures from the references, sets every COPIED flag right and
 * clears the corrupt and dirty bits. Either way the image is checked again afterwards.
 */
public final class ImageChecker {
  /** qemu-img check's -r modes. */
  public enum Repair {
    /** Checks only; the image is opened read-only and not changed. */
    NONE,
    /** Lowers the refcounts of leaked clusters to their references ({@code -r leaks}). */
    LEAKS,
    /**
     * Fixes leaks and corruptions: bad references dropped, refcounts rebuilt, COPIED flags set
     * right, the corrupt and dirty bits cleared ({@code -r all}).
     */
    ALL
  }

  private ImageChecker() {}

  /**
   * Checks the qcow2 image at {@code path} (not its backing files), repairs it as asked, and checks
   * it again after a repair.
   *
   * @param path the image file; opened read-only for {@link Repair#NONE}, else writable
   * @param repair what to repair; not null
   * @return the report: after the repair if one ran, with the counts it fixed
   * @throws IOException if the file cannot be read or written, or its header is too damaged to
   *     check (a {@link Qcow2Exception})
   */
  public static CheckReport check(Path path, Repair repair) throws IOException {
    CheckReport first = checkOnce(path);
    boolean flagged;
    try (Storage s = Storage.open(path, false)) {
      Header.Field bits = Header.Field.INCOMPATIBLE_FEATURES;
      ByteBuffer f = ByteBuffer.allocate(bits.width);
      s.readOrZero(f, bits.offset);
      flagged =
          (bits.get(f, bits.offset) & (FeatureBits.INCOMPAT_CORRUPT | FeatureBits.INCOMPAT_DIRTY))
                  != 0
              && first.corruptions() == 0
              && repair == Repair.ALL;
    }
    if (repair == Repair.NONE || (first.isClean() && !flagged)) {
      return first;
    }
    int[] fixed = repair == Repair.LEAKS ? repairLeaks(path) : repairAll(path);
    return checkOnce(path).withFixed(fixed[0], fixed[1]);
  }

  private static Qcow2Image openForCheck(Path path) throws IOException {
    return Qcow2Image.open(path, OpenOptions.builder().openBacking(false).build());
  }

  static CheckReport checkOnce(Path path) throws IOException {
    try (Qcow2Image img = openForCheck(path)) {
      return check(img);
    }
  }

  /**
   * Checks an open image, repairing nothing (for an image that is not a local file, say).
   *
   * @param img the image, which stays open
   * @return the report; its fixed counts are 0
   * @throws IOException if the image's metadata cannot be read
   */
  public static CheckReport check(Qcow2Image img) throws IOException {
    Storage storage = img.storage();
    Header h = img.header();
    ClusterGeometry g = img.geometry();
    List<String> messages = new ArrayList<>();
    Refcounts refcounts = new Refcounts(img.filename(), storage, h, g);
    ReferenceWalk refs =
        ReferenceWalk.count(
            img.filename(),
            storage,
            h,
            g,
            img.l1(),
            img.snapshots(),
            null,
            true,
            refcounts.table(),
            messages);
    int corruptions = refs.corruptions();
    // Metadata structures that share a cluster: -r all leaves them (and what lies in them) alone.
    messages.addAll(refs.overlaps().values());
    corruptions += refs.overlaps().size();
    int leaks = 0;
    long fileClusters = (storage.size() + g.clusterSize - 1) >>> g.clusterBits;
    long clusters = Math.max(fileClusters, refs.highest() + 1);
    long highest = -1;
    for (long c = 0; c < clusters; c++) {
      long stored = refcounts.get(c);
      int referenced = refs.references(c);
      if (stored != 0 || referenced != 0) {
        highest = c;
      }
      if (Long.compareUnsigned(stored, referenced) < 0) {
        messages.add("ERROR cluster " + c + " refcount=" + stored + " reference=" + referenced);
        corruptions++;
      } else if (Long.compareUnsigned(stored, referenced) > 0) {
        messages.add("Leaked cluster " + c + " refcount=" + stored + " reference=" + referenced);
        leaks++;
      }
    }
    Stats stats = activeTables(img, refcounts, refs, messages);
    corruptions += stats.copiedErrors;
    long totalClusters = (h.size() + g.clusterSize - 1) >>> g.clusterBits;
    return new CheckReport(
        img.filename(),
        corruptions,
        leaks,
        0,
        0,
        0,
        (highest + 1) << g.clusterBits,
        totalClusters,
        stats.allocated,
        stats.fragmented,
        stats.compressed,
        messages);
  }

  private static final class Stats {
    long allocated;
    long fragmented;
    long compressed;
    int copiedErrors;
  }

  /** COPIED flags and qemu's allocation statistics, over the active L1 and L2 tables. */
  private static Stats activeTables(
      Qcow2Image img, Refcounts refcounts, ReferenceWalk refs, List<String> messages)
      throws IOException {
    Stats st = new Stats();
    ClusterGeometry g = img.geometry();
    long fileSize = img.storage().size();
    long[] l1 = img.l1();
    int k = g.extendedL2 ? 2 : 1;
    for (int i = 0; i < l1.length; i++) {
      long l2Offset = L1Entry.l2Offset(l1[i]);
      if (l2Offset == 0 || !g.isClusterAligned(l2Offset) || l2Offset >= fileSize) {
        continue;
      }
      long rc = refcounts.get(l2Offset >>> g.clusterBits);
      // A flag in a cluster that two structures share is not a COPIED flag only: the overlap,
      // reported already, is the error, and repair does not touch it.
      boolean l1Shared = refs.overlapsMetadata(img.header().l1TableOffset() + 8L * i, 8);
      boolean l2Shared = refs.overlapsMetadata(l2Offset, g.clusterSize);
      if (!l1Shared && (rc == 1) != L1Entry.isCopied(l1[i])) {
        messages.add(
            "ERROR OFLAG_COPIED L2 cluster: l1_index="
                + i
                + " l1_entry="
                + Long.toHexString(l1[i])
                + " refcount="
                + rc);
        st.copiedErrors++;
      }
      long[] table = readL2(img.storage(), l2Offset, g);
      // Like qemu, fragmentation is counted within each L2 table.
      long nextContiguous = 0;
      for (int j = 0; j < g.l2Entries; j++) {
        long e = table[k * j];
        if (L2Entry.isCompressed(e)) {
          st.allocated++;
          st.compressed++;
          st.fragmented++; // compressed clusters are fragmented by nature, as qemu counts them
          if (!l2Shared && L2Entry.isCopied(e)) {
            messages.add(
                "ERROR: compressed cluster has OFLAG_COPIED: l2_entry=" + Long.toHexString(e));
            st.copiedErrors++;
          }
          continue;
        }
        long host = L2Entry.hostOffset(e);
        if (host == 0 || !g.isClusterAligned(host)) {
          continue;
        }
        st.allocated++;
        if (nextContiguous != 0 && host != nextContiguous) {
          st.fragmented++;
        }
        nextContiguous = host + g.clusterSize;
        if (img.hasExternalDataFile()) {
          continue; // no refcounts for the data file's clusters
        }
        long drc = refcounts.get(host >>> g.clusterBits);
        if (!l2Shared && (drc == 1) != L2Entry.isCopied(e)) {
          messages.add(
              "ERROR OFLAG_COPIED data cluster: l2_entry="
                  + Long.toHexString(e)
                  + " refcount="
                  + drc);
          st.copiedErrors++;
        }
      }
    }
    return st;
  }

  private static long[] readL2(Storage storage, long offset, ClusterGeometry g) throws IOException {
    return ClusterMap.readTable(storage, offset, g.clusterSize / 8);
  }

  // ---------------------------------------------------------------------------------------------
  // Repairs

  /**
   * Lowers every leaked refcount to the number of references.
   *
   * @return the corruptions fixed (none) and the leaks fixed
   */
  private static int[] repairLeaks(Path path) throws IOException {
    int leaks = 0;
    try (Qcow2Image img = openForCheck(path);
        Storage out = Storage.open(path, true)) {
      Header h = img.header();
      ClusterGeometry g = img.geometry();
      Refcounts refcounts = new Refcounts(img.filename(), out, h, g);
      ReferenceWalk refs =
          ReferenceWalk.count(
              img.filename(),
              out,
              h,
              g,
              img.l1(),
              img.snapshots(),
              null,
              true,
              refcounts.table(),
              new ArrayList<>());
      long clusters =
          Math.max((out.size() + g.clusterSize - 1) >>> g.clusterBits, refs.highest() + 1);
      for (long c = 0; c < clusters; c++) {
        long stored = refcounts.get(c);
        int referenced = refs.references(c);
        if (Long.compareUnsigned(stored, referenced) > 0) {
          refcounts.setForRepair(c, referenced);
          leaks++;
        }
      }
      refcounts.writeBlocks();
      out.force();
    }
    return new int[] {0, leaks};
  }

  /**
   * Drops references to clusters that are misaligned or lie outside the file; sets every refcount
   * to its number of references, in place, or, as qemu does when a referenced cluster has refcount
   * 0 (or its refcount block is unusable), by rebuilding the refcount structures; then makes every
   * COPIED flag of the active tables say whether the refcount is 1, and clears the corrupt and
   * dirty bits.
   *
   * @return the corruptions fixed and the leaks fixed, counted as qemu counts them
   */
  private static int[] repairAll(Path path) throws IOException {
    // Metadata structures that share a cluster (say the active L1 table and the snapshot table):
    // a write for one changes the other, so, as qemu's overlap checks refuse such writes, nothing
    // is written at all; check keeps reporting the overlap (and what else it finds).
    try (Qcow2Image img = openForCheck(path)) {
      ReferenceWalk walk =
          ReferenceWalk.count(
              img.filename(),
              img.storage(),
              img.header(),
              img.geometry(),
              img.l1(),
              img.snapshots(),
              null,
              false,
              new long[0],
              new ArrayList<>());
      if (!walk.overlaps().isEmpty()) {
        return new int[] {0, 0};
      }
    }
    int corruptionsFixed = dropBrokenSnapshots(path);
    int leaksFixed = 0;
    long[] l1;
    Header h;
    ClusterGeometry g;
    List<Snapshot> snapshots;
    boolean externalData;
    try (Qcow2Image img = openForCheck(path)) {
      l1 = img.l1().clone();
      h = img.header();
      g = img.geometry();
      snapshots = img.snapshots();
      externalData = img.hasExternalDataFile();
    }
    String name = path.toString();
    try (Storage out = Storage.open(path, true)) {
      long fileSize = out.size();
      // 1. References that point nowhere become unallocated: reading them gives zeros. This is done
      // in every L1 table, the snapshots' too (whose L2 tables the walk counts as well), where
      // qemu only reports them.
      corruptionsFixed += clearBroken(out, g, fileSize, h.l1TableOffset(), l1);
      for (Snapshot snapshot : snapshots) {
        long[] snapshotL1 = ClusterMap.readTable(out, snapshot.l1TableOffset(), snapshot.l1Size());
        corruptionsFixed += clearBroken(out, g, fileSize, snapshot.l1TableOffset(), snapshotL1);
      }
      out.force();
      // 2. Refcounts that match the references: fixed in place where the blocks allow it.
      Refcounts refcounts = new Refcounts(name, out, h, g);
      ReferenceWalk refs =
          ReferenceWalk.count(
              name, out, h, g, l1, snapshots, null, true, refcounts.table(), new ArrayList<>());
      long clusters =
          Math.max((out.size() + g.clusterSize - 1) >>> g.clusterBits, refs.highest() + 1);
      // What the walk still finds wrong lies in the refcount structures themselves (the tables'
      // bad entries are gone): only new structures mend those.
      boolean rebuild = refs.corruptions() > 0;
      corruptionsFixed += refs.corruptions();
      List<long[]> changes = new ArrayList<>();
      // A count the refcount width cannot hold is stored as the largest it can (never wrapped).
      // (64-bit refcounts: the maximum is unsigned, so no int count reaches it.)
      long max = h.refcountOrder() == 6 ? Long.MAX_VALUE : RefcountBlock.max(h.refcountOrder());
      for (long c = 0; c < clusters && !rebuild; c++) {
        long stored;
        try {
          stored = refcounts.get(c);
        } catch (CorruptImageException unusableBlock) {
          rebuild = true;
          break;
        }
        int referenced = refs.references(c);
        long wanted = Math.min(referenced, max);
        if (stored == wanted) {
          continue;
        }
        if (stored == 0) {
          rebuild = true;
        }
        if (Long.compareUnsigned(stored, referenced) < 0) {
          corruptionsFixed++;
        } else {
          leaksFixed++;
        }
        changes.add(new long[] {c, wanted});
      }
      if (rebuild) {
        refs = ReferenceWalk.count(name, out, h, g, l1, snapshots, null, false, new long[0]);
        Refcounts.rebuild(name, out, h, g, refs.saturated(max));
      } else {
        for (long[] change : changes) {
          refcounts.setForRepair(change[0], change[1]);
        }
        refcounts.writeBlocks();
      }
      out.force();
      // 3. COPIED flags in the active tables, from the new counts.
      corruptionsFixed += CopiedFlags.repair(out, h.l1TableOffset(), l1, g, externalData, refs);
      // 4. The image is consistent again (version 2 has no such bits: its extensions start there).
      if (h.version() >= 3) {
        new HeaderUpdate()
            .incompatibleFeatures(
                h.incompatibleFeatures()
                    & ~(FeatureBits.INCOMPAT_CORRUPT | FeatureBits.INCOMPAT_DIRTY))
            .writeTo(out);
      }
    }
    return new int[] {corruptionsFixed, leaksFixed};
  }

  /**
   * Removes the snapshot table entries whose L1 table is misaligned or lies outside the file, as
   * qemu-img check -r all does (qemu's qcow2_check_fix_snapshot_table): nothing of such a snapshot
   * can be read, and the walk cannot count what it references. The remaining entries are written
   * back in order over the old table, which only shrinks, and nb_snapshots follows.
   *
   * @return the entries removed
   */
  private static int dropBrokenSnapshots(Path path) throws IOException {
    Header h;
    ClusterGeometry g;
    try (Qcow2Image img = openForCheck(path)) {
      h = img.header();
      g = img.geometry();
    }
    if (h.nbSnapshots() == 0) {
      return 0;
    }
    try (Storage out = Storage.open(path, true)) {
      long fileSize = out.size();
      ByteBuffer kept =
          ByteBuffer.allocate((int) Math.min(SnapshotTable.MAX_TABLE_BYTES, fileSize));
      int keptCount = 0;
      long at = h.snapshotsOffset();
      ByteBuffer fixed = ByteBuffer.allocate(40);
      for (int i = 0; i < h.nbSnapshots(); i++) {
        fixed.clear();
        out.readOrZero(fixed, at);
        long l1Offset = fixed.getLong(0);
        long l1Size = fixed.getInt(8);
        long variable =
            Integer.toUnsignedLong(fixed.getInt(36))
                + (fixed.getShort(12) & 0xffff)
                + (fixed.getShort(14) & 0xffff);
        int length = (int) (40 + ((variable + 7) & ~7L));
        // The same test as the reference walk's: anything else it can read and count.
        boolean valid =
            l1Offset >= 0
                && g.isClusterAligned(l1Offset)
                && l1Offset < fileSize
                && l1Size >= 0
                && l1Size * 8 <= fileSize - l1Offset;
        if (valid) {
          ByteBuffer entry = ByteBuffer.allocate(length);
          out.readOrZero(entry, at);
          kept.put(entry.flip());
          keptCount++;
        }
        at += length;
      }
      int dropped = h.nbSnapshots() - keptCount;
      if (dropped > 0) {
        out.write(kept.flip(), h.snapshotsOffset());
        out.force();
        new HeaderUpdate()
            .snapshotTable(keptCount, keptCount == 0 ? 0 : h.snapshotsOffset())
            .writeTo(out);
      }
      return dropped;
    }
  }

  /**
   * Clears, in the L1 table at {@code l1Offset} (whose entries {@code l1} are, and are updated),
   * the entries naming a misaligned or out-of-file L2 table, and in the L2 tables the others name
   * the entries pointing nowhere.
   *
   * @return the entries cleared
   */
  private static int clearBroken(
      Storage out, ClusterGeometry g, long fileSize, long l1Offset, long[] l1) throws IOException {
    int cleared = 0;
    int k = g.extendedL2 ? 2 : 1;
    for (int i = 0; i < l1.length; i++) {
      long l2Offset = L1Entry.l2Offset(l1[i]);
      if (l2Offset == 0) {
        continue;
      }
      if (!g.isClusterAligned(l2Offset) || l2Offset > fileSize - g.clusterSize) {
        cleared++;
        l1[i] = 0;
        writeLong(out, l1Offset + 8L * i, 0);
        continue;
      }
      long[] table = readL2(out, l2Offset, g);
      for (int j = 0; j < g.l2Entries; j++) {
        long e = table[k * j];
        if (!pointsNowhere(e, g, fileSize)) {
          continue;
        }
        cleared++;
        writeLong(out, l2Offset + 8L * k * j, 0);
        if (g.extendedL2) {
          writeLong(out, l2Offset + 8L * k * j + 8, 0);
        }
      }
    }
    return cleared;
  }

  private static boolean pointsNowhere(long e, ClusterGeometry g, long fileSize) {
    if (L2Entry.isCompressed(e)) {
      long offset = CompressedDescriptor.hostOffset(e, g.clusterBits);
      return offset >= fileSize || offset > CompressedDescriptor.MAX_HOST_OFFSET;
    }
    long host = L2Entry.hostOffset(e);
    return host != 0 && (!g.isClusterAligned(host) || host >= fileSize);
  }

  private static void writeLong(Storage out, long at, long value) throws IOException {
    out.write(ByteBuffer.allocate(8).putLong(0, value), at);
  }
}
