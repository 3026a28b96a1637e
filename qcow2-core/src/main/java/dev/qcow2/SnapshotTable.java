package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the snapshot table: {@code nb_snapshots} entries from {@code snapshots_offset}, each padded
 * to a multiple of 8.
 *
 * <pre>
 *  0  8  l1_table_offset     20  4  date_nsec
 *  8  4  l1_size             24  8  vm_clock_nsec
 * 12  2  id_str_size         32  4  vm_state_size (legacy 32 bits)
 * 14  2  name_size           36  4  extra_data_size
 * 16  4  date_sec            40  .  extra data, id string, name, padding
 * </pre>
 *
 * Extra data, in order where present: vm_state_size_large (8), disk_size (8), icount (8).
 */
final class SnapshotTable {
  /** qemu's bounds: extra data at most 1 KiB per entry, the table at most 64 MiB. */
  static final int MAX_EXTRA_DATA = 1024;

  static final long MAX_TABLE_BYTES = 64L << 20;

  private SnapshotTable() {}

  /**
   * The snapshots {@code idOrName} names, in qemu's order of trying them: the one with that id,
   * then the one with that name (the first of duplicates, each snapshot once); empty if none.
   */
  static List<Snapshot> byIdOrName(List<Snapshot> snapshots, String idOrName) {
    List<Snapshot> found = new ArrayList<>(2);
    snapshots.stream().filter(s -> s.id().equals(idOrName)).findFirst().ifPresent(found::add);
    snapshots.stream()
        .filter(s -> s.name().equals(idOrName))
        .findFirst()
        .filter(s -> !found.contains(s))
        .ifPresent(found::add);
    return found;
  }

  /**
   * qemu's qcow2_do_open validates snapshots_offset even when nb_snapshots is 0 (its
   * qcow2_validate_table checks the alignment whatever the count) and refuses to open the image
   * with "Snapshot table offset invalid"; so do we, in the same words.
   */
  private static void checkOffset(String image, Header h, ClusterGeometry g)
      throws CorruptImageException {
    long offset = h.snapshotsOffset();
    if (offset < 0 || !g.isClusterAligned(offset)) {
      throw new CorruptImageException(
          image,
          Structure.SNAPSHOT_TABLE,
          64,
          "offset invalid: 0x"
              + Long.toHexString(offset)
              + " (it must be a multiple of the cluster size, "
              + g.clusterSize
              + ", below 2^63)");
    }
  }

  static List<Snapshot> read(
      String image, Storage storage, Header h, ClusterGeometry g, long fileSize)
      throws IOException {
    checkOffset(image, h, g);
    List<Snapshot> list = new ArrayList<>(h.nbSnapshots());
    long at = h.snapshotsOffset();
    ByteBuffer fixed = ByteBuffer.allocate(40);
    for (int i = 0; i < h.nbSnapshots(); i++) {
      if (at - h.snapshotsOffset() > MAX_TABLE_BYTES - 40) {
        throw new ImageLimitException(
            image, Structure.SNAPSHOT_TABLE, at, "is larger than " + MAX_TABLE_BYTES + " bytes");
      }
      if (at + 40 > fileSize) {
        throw new CorruptImageException(
            image, Structure.SNAPSHOT_TABLE, at, "entry " + i + " runs past the end of the file");
      }
      fixed.clear();
      storage.readOrZero(fixed, at);
      long l1Offset = fixed.getLong(0);
      int l1Size = fixed.getInt(8);
      int idSize = fixed.getShort(12) & 0xffff;
      int nameSize = fixed.getShort(14) & 0xffff;
      long dateSec = Integer.toUnsignedLong(fixed.getInt(16));
      long dateNsec = Integer.toUnsignedLong(fixed.getInt(20));
      long vmClock = fixed.getLong(24);
      long vmState = Integer.toUnsignedLong(fixed.getInt(32));
      long extraSize = Integer.toUnsignedLong(fixed.getInt(36));
      if (extraSize > MAX_EXTRA_DATA) {
        throw new ImageLimitException(
            image,
            Structure.SNAPSHOT_TABLE,
            at + 36,
            "entry " + i + " has " + extraSize + " bytes of extra data, over 1024");
      }
      int variable = (int) extraSize + idSize + nameSize;
      if (at + 40 + variable > fileSize) {
        throw new CorruptImageException(
            image, Structure.SNAPSHOT_TABLE, at, "entry " + i + " runs past the end of the file");
      }
      ByteBuffer rest = ByteBuffer.allocate(variable);
      storage.readOrZero(rest, at + 40);
      long diskSize = -1;
      long icount = -1;
      if (extraSize >= 8) {
        vmState = rest.getLong(0);
      }
      if (extraSize >= 16) {
        diskSize = rest.getLong(8);
      }
      if (extraSize >= 24) {
        icount = rest.getLong(16);
      }
      String id = new String(rest.array(), (int) extraSize, idSize, StandardCharsets.UTF_8);
      String name =
          new String(rest.array(), (int) extraSize + idSize, nameSize, StandardCharsets.UTF_8);
      list.add(
          new Snapshot(
              id, name, vmState, dateSec, dateNsec, vmClock, icount, diskSize, l1Offset, l1Size));
      at += 40 + ((variable + 7L) & ~7L);
    }
    return List.copyOf(list);
  }

  /** The snapshot that open options select, and its L1 table as {@link #l1Table} reads it. */
  record View(Snapshot snapshot, long[] l1) {}

  /** The snapshot that {@code options} select to read instead of the active layer, or null. */
  static View view(
      String filename,
      Storage storage,
      ClusterGeometry g,
      long fileSize,
      long currentSize,
      List<Snapshot> snapshots,
      OpenOptions options)
      throws IOException {
    List<Snapshot> candidates = options.selectSnapshot(filename, snapshots);
    for (int i = 0; i < candidates.size(); i++) {
      try {
        return new View(
            candidates.get(i),
            l1Table(filename, storage, g, fileSize, currentSize, candidates.get(i), options));
      } catch (CorruptImageException e) {
        // As qemu: a snapshot matched by id whose L1 table is misplaced gives way to one by name.
        if (i == candidates.size() - 1) {
          throw e;
        }
      }
    }
    return null;
  }

  /**
   * The L1 table of {@code s}, checked as the active one is, and as long as the current size needs:
   * qemu reads a snapshot with the image's current size, and the disk may have grown since (it
   * cannot shrink while it has snapshots), so entries past the snapshot's are unallocated.
   */
  static long[] l1Table(
      String filename,
      Storage storage,
      ClusterGeometry g,
      long fileSize,
      long currentSize,
      Snapshot s,
      OpenOptions options)
      throws IOException {
    long at = s.l1TableOffset();
    if (s.l1Size() < 0 || s.l1Size() > options.maxL1Entries()) {
      throw new ImageLimitException(
          filename,
          Structure.L1_TABLE,
          at,
          "of snapshot '"
              + s.id()
              + "' has "
              + Integer.toUnsignedString(s.l1Size())
              + " entries, over the limit of "
              + options.maxL1Entries());
    }
    if (!g.isClusterAligned(at) || at < 0 || at > fileSize || 8L * s.l1Size() > fileSize - at) {
      throw new CorruptImageException(
          filename,
          Structure.L1_TABLE,
          at,
          "of snapshot '"
              + s.id()
              + "' "
              + (g.isClusterAligned(at) ? "lies outside the file" : "is not cluster-aligned"));
    }
    long[] table = ClusterMap.readTable(storage, at, s.l1Size());
    long needed = g.l1EntriesFor(currentSize);
    return table.length >= needed ? table : java.util.Arrays.copyOf(table, (int) needed);
  }
}
