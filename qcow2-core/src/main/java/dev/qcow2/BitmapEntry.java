package dev.qcow2;

import java.nio.charset.StandardCharsets;

/**
 * One entry of the bitmap directory, as the file holds it (see {@link BitmapDirectory} for the
 * layout). Immutable: a changed bitmap gets a new entry.
 *
 * @param tableOffset where its bitmap table lies (cluster-aligned)
 * @param tableSize the bitmap table's number of 8-byte entries
 * @param flags bit 0 in_use, bit 1 auto
 * @param granularityBits log2 of the bytes of guest disk one bit covers
 * @param name the bitmap's name (1 to 1023 bytes of UTF-8)
 */
record BitmapEntry(long tableOffset, int tableSize, int flags, int granularityBits, String name) {
  static final int FLAG_IN_USE = 1;
  static final int FLAG_AUTO = 2;

  /** qemu's limits (block/qcow2-bitmap.c), which the specification leaves to implementations. */
  static final int MIN_GRANULARITY_BITS = 9;

  static final int MAX_GRANULARITY_BITS = 31;
  static final int MAX_NAME_BYTES = 1023;
  static final int MAX_TABLE_SIZE = 0x8000000;
  static final long MAX_BITMAP_BYTES = 0x20000000L;

  boolean inUse() {
    return (flags & FLAG_IN_USE) != 0;
  }

  boolean auto() {
    return (flags & FLAG_AUTO) != 0;
  }

  long granularity() {
    return 1L << granularityBits;
  }

  byte[] nameBytes() {
    return name.getBytes(StandardCharsets.UTF_8);
  }

  /** The directory bytes of this entry, padded to a multiple of 8. */
  int encodedSize() {
    return (24 + nameBytes().length + 7) & ~7;
  }

  BitmapEntry withFlags(int newFlags) {
    return new BitmapEntry(tableOffset, tableSize, newFlags, granularityBits, name);
  }

  BitmapEntry withTable(long offset, int size) {
    return new BitmapEntry(offset, size, flags, granularityBits, name);
  }

  Bitmap toBitmap() {
    return new Bitmap(name, granularity(), inUse(), auto());
  }

  /** The number of bitmap table entries (data clusters) a disk of {@code diskSize} needs. */
  static int tableSizeFor(long diskSize, int granularityBits, int clusterBits) {
    long bits = (diskSize + (1L << granularityBits) - 1) >>> granularityBits;
    long bitsPerCluster = 8L << clusterBits;
    return (int) ((bits + bitsPerCluster - 1) / bitsPerCluster);
  }
}
