package dev.qcow2.fuzz;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * A valid seed image and the places in it where each qcow2 structure lies, found by a small
 * independent parser of the spec (not the library's), so that a fuzzer can say "entry 7 of the
 * second L2 table" instead of hoping to hit it with random bytes.
 *
 * @param name the seed's file name
 * @param bytes the image file, never changed (mutations work on copies)
 * @param clusterSize the seed's cluster size
 * @param fields every mutable place, by the structure it belongs to
 */
record SeedImage(String name, byte[] bytes, int clusterSize, Map<Kind, List<Field>> fields) {

  /** The structures a target may choose to mutate. */
  enum Kind {
    HEADER,
    HEADER_EXTENSION,
    L1,
    L2,
    REFCOUNT_TABLE,
    REFCOUNT_BLOCK,
    COMPRESSED_DATA,
    SNAPSHOT_TABLE,
    SNAPSHOT_L1,
    BITMAP_EXTENSION,
    BITMAP_DIRECTORY,
    BITMAP_TABLE
  }

  /**
   * One field, or a table of equal fields.
   *
   * @param offset where the first entry lies in the file
   * @param width bytes per entry (1, 2, 4 or 8)
   * @param entries how many entries follow each other
   */
  record Field(long offset, int width, int entries) {}

  private static final long OFFSET_MASK = 0x00fffffffffffe00L;

  List<Field> fields(Kind kind) {
    return fields.getOrDefault(kind, List.of());
  }

  static SeedImage map(String name, byte[] file) {
    ByteBuffer b = ByteBuffer.wrap(file);
    Map<Kind, List<Field>> f = new EnumMap<>(Kind.class);
    int version = b.getInt(4);
    int clusterBits = b.getInt(20);
    int clusterSize = 1 << clusterBits;
    int[][] header = {
      {4, 4}, {8, 8}, {16, 4}, {20, 4}, {24, 8}, {32, 4}, {36, 4}, {40, 8}, {48, 8}, {56, 4},
      {60, 4}, {64, 8}, {72, 8}, {80, 8}, {88, 8}, {96, 4}, {100, 4}, {104, 1}
    };
    int headerLength = version == 2 ? 72 : b.getInt(100);
    for (int[] h : header) {
      if (h[0] < headerLength || version == 2 && h[0] < 72) {
        add(f, Kind.HEADER, h[0], h[1], 1);
      }
    }

    // Header extensions: type and length of each, and its data as bytes.
    long backingOffset = b.getLong(8);
    long end = backingOffset != 0 ? Math.min(backingOffset, clusterSize) : clusterSize;
    long bitmapExt = -1;
    for (long at = headerLength; at + 8 <= end; ) {
      int type = b.getInt((int) at);
      int length = b.getInt((int) at + 4);
      add(f, Kind.HEADER_EXTENSION, at, 4, 2);
      if (type == 0) {
        break;
      }
      if (length > 0) {
        add(f, Kind.HEADER_EXTENSION, at + 8, 1, length);
      }
      if (type == 0x23852875) {
        bitmapExt = at + 8;
      }
      at += 8 + ((length + 7L) & ~7L);
    }
    if (backingOffset != 0) {
      add(f, Kind.HEADER_EXTENSION, backingOffset, 1, b.getInt(16));
    }

    boolean extendedL2 = version == 3 && (b.getLong(72) & (1L << 4)) != 0;
    int l2EntryBytes = extendedL2 ? 16 : 8;
    long l1 = b.getLong(40);
    int l1Size = b.getInt(36);
    add(f, Kind.L1, l1, 8, l1Size);
    for (int i = 0; i < l1Size; i++) {
      long l2 = b.getLong((int) (l1 + 8L * i)) & OFFSET_MASK;
      if (l2 == 0) {
        continue;
      }
      add(f, Kind.L2, l2, 8, clusterSize / 8);
      int shift = 62 - (clusterBits - 8);
      for (int j = 0; j < clusterSize / l2EntryBytes; j++) {
        long e = b.getLong((int) (l2 + (long) l2EntryBytes * j));
        if ((e & (1L << 62)) != 0) {
          // Decoded here by the spec, not by the core's CompressedDescriptor: that type is
          // package-private to dev.qcow2, and a seed finder reading the bits itself is no worse.
          long host = e & ((1L << shift) - 1);
          long sectors = ((e >>> shift) & ((1L << (clusterBits - 8)) - 1)) + 1;
          int size = (int) Math.min(sectors * 512 - (host & 511), file.length - host);
          add(f, Kind.COMPRESSED_DATA, host, 1, size);
        }
      }
    }

    long reftable = b.getLong(48);
    int reftableEntries = b.getInt(56) * clusterSize / 8;
    add(f, Kind.REFCOUNT_TABLE, reftable, 8, reftableEntries);
    int refcountOrder = version == 2 ? 4 : b.getInt(96);
    int blockWidth = Math.max(1, (1 << refcountOrder) / 8);
    for (int i = 0; i < reftableEntries; i++) {
      long block = b.getLong((int) (reftable + 8L * i)) & ~0x1ffL;
      if (block != 0 && block < file.length) {
        add(f, Kind.REFCOUNT_BLOCK, block, blockWidth, clusterSize / blockWidth);
      }
    }

    // The header fields that locate the snapshot table and vouch for the bitmaps belong to them
    // too.
    add(f, Kind.SNAPSHOT_TABLE, 60, 4, 1);
    add(f, Kind.SNAPSHOT_TABLE, 64, 8, 1);
    int nbSnapshots = b.getInt(60);
    long at = b.getLong(64);
    for (int i = 0; i < nbSnapshots; i++) {
      int[][] entry = {
        {0, 8}, {8, 4}, {12, 2}, {14, 2}, {16, 4}, {20, 4}, {24, 8}, {32, 4}, {36, 4}
      };
      for (int[] e : entry) {
        add(f, Kind.SNAPSHOT_TABLE, at + e[0], e[1], 1);
      }
      int extra = b.getInt((int) at + 36);
      if (extra > 0) {
        add(f, Kind.SNAPSHOT_TABLE, at + 40, 8, extra / 8);
      }
      add(f, Kind.SNAPSHOT_L1, b.getLong((int) at), 8, b.getInt((int) at + 8));
      int variable =
          extra + (b.getShort((int) at + 12) & 0xffff) + (b.getShort((int) at + 14) & 0xffff);
      add(f, Kind.SNAPSHOT_TABLE, at + 40 + extra, 1, variable - extra);
      at += 40 + ((variable + 7L) & ~7L);
    }

    if (bitmapExt >= 0) {
      add(f, Kind.BITMAP_EXTENSION, 88, 8, 1);
      add(f, Kind.BITMAP_EXTENSION, bitmapExt, 4, 2);
      add(f, Kind.BITMAP_EXTENSION, bitmapExt + 8, 8, 2);
      int count = b.getInt((int) bitmapExt);
      long dir = b.getLong((int) bitmapExt + 16);
      long d = dir;
      for (int i = 0; i < count; i++) {
        int[][] entry = {{0, 8}, {8, 4}, {12, 4}, {16, 1}, {17, 1}, {18, 2}, {20, 4}};
        for (int[] e : entry) {
          add(f, Kind.BITMAP_DIRECTORY, d + e[0], e[1], 1);
        }
        long table = b.getLong((int) d);
        int tableSize = b.getInt((int) d + 8);
        if (table != 0) {
          add(f, Kind.BITMAP_TABLE, table, 8, tableSize);
        }
        int nameSize = b.getShort((int) d + 18) & 0xffff;
        int extra = b.getInt((int) d + 20);
        add(f, Kind.BITMAP_DIRECTORY, d + 24, 1, extra + nameSize);
        d += (24L + extra + nameSize + 7) & ~7L;
      }
    }
    return new SeedImage(name, file, clusterSize, f);
  }

  private static void add(
      Map<Kind, List<Field>> f, Kind kind, long offset, int width, int entries) {
    if (entries > 0) {
      f.computeIfAbsent(kind, k -> new ArrayList<>()).add(new Field(offset, width, entries));
    }
  }
}
