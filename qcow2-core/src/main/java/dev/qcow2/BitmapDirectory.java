package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The bitmap directory named by the bitmaps header extension: reads and checks it, and encodes it
 * back. The extension is only valid while the "bitmaps" autoclear bit is set; otherwise it is
 * ignored, as the specification says.
 *
 * <pre>
 * extension: 0 u32 nb_bitmaps, 4 u32 reserved, 8 u64 bitmap_directory_size, 16 u64 offset
 * entry:     0 u64 bitmap_table_offset, 8 u32 bitmap_table_size, 12 u32 flags, 16 u8 type,
 *            17 u8 granularity_bits, 18 u16 name_size, 20 u32 extra_data_size, 24 extra, name,
 *            padding to 8
 * </pre>
 *
 * Entries are checked as qemu checks them before it trusts a bitmap (qcow2-bitmap.c): one type (1,
 * dirty tracking), no extra data, granularity 512 B to 2 GiB, names of 1 to 1023 bytes, no unknown
 * flags, a table that covers the disk unless the bitmap is in use; and the directory and tables
 * must not overlap the header, the L1, refcount and snapshot tables or each other.
 */
final class BitmapDirectory {
  /** qemu's QCOW2_MAX_BITMAPS and QCOW2_MAX_BITMAP_DIRECTORY_SIZE. */
  static final int MAX_BITMAPS = 65535;

  static final long MAX_DIRECTORY_BYTES = 1024L * MAX_BITMAPS;
  static final int EXTENSION_BYTES = 24;

  private BitmapDirectory() {}

  /** The bitmaps as listed, or none when the extension is absent or not vouched for. */
  static List<Bitmap> read(
      String image, Storage storage, Header h, ClusterGeometry g, long fileSize)
      throws IOException {
    return entries(image, storage, h, g, fileSize).stream().map(BitmapEntry::toBitmap).toList();
  }

  /** The directory's entries, checked; none when the extension is absent or not vouched for. */
  static List<BitmapEntry> entries(
      String image, Storage storage, Header h, ClusterGeometry g, long fileSize)
      throws IOException {
    HeaderExtension ext = h.extension(HeaderExtension.BITMAPS);
    if (ext == null || (h.autoclearFeatures() & FeatureBits.AUTOCLEAR_BITMAPS) == 0) {
      return List.of();
    }
    if (ext.data().length < EXTENSION_BYTES) {
      throw new CorruptImageException(
          image,
          Structure.HEADER_EXTENSION,
          ext.hostOffset(),
          "bitmaps extension is shorter than 24 bytes");
    }
    ByteBuffer d = ByteBuffer.wrap(ext.data());
    long count = Integer.toUnsignedLong(d.getInt(0));
    long size = d.getLong(8);
    long offset = d.getLong(16);
    if (count == 0 || count > MAX_BITMAPS) {
      throw new CorruptImageException(
          image,
          Structure.BITMAP_DIRECTORY,
          ext.hostOffset(),
          "has " + count + " bitmaps; qemu allows 1 to " + MAX_BITMAPS);
    }
    if (size < 24 * count || size > MAX_DIRECTORY_BYTES) {
      throw new CorruptImageException(
          image,
          Structure.BITMAP_DIRECTORY,
          ext.hostOffset(),
          "has " + count + " bitmaps in " + size + " bytes, out of range");
    }
    Header.validateTable(
        image, Structure.BITMAP_DIRECTORY, ext.hostOffset() + 24, offset, size, g, fileSize);
    ByteBuffer dir = ByteBuffer.allocate((int) size);
    storage.readOrZero(dir, offset);
    List<BitmapEntry> list = decode(image, dir, offset, (int) count, h, g, fileSize);
    new BitmapOverlaps(image, h, g).check(offset, size, list);
    return list;
  }

  private static List<BitmapEntry> decode(
      String image,
      ByteBuffer dir,
      long offset,
      int count,
      Header h,
      ClusterGeometry g,
      long fileSize)
      throws IOException {
    List<BitmapEntry> list = new ArrayList<>();
    long size = dir.capacity();
    int at = 0;
    for (int i = 0; i < count; i++) {
      if (at + 24 > size) {
        throw new CorruptImageException(
            image,
            Structure.BITMAP_DIRECTORY,
            offset + at,
            "entry " + i + " runs past the directory");
      }
      int nameSize = dir.getShort(at + 18) & 0xffff;
      long extra = Integer.toUnsignedLong(dir.getInt(at + 20));
      if (at + 24 + extra + nameSize > size) {
        throw new CorruptImageException(
            image,
            Structure.BITMAP_DIRECTORY,
            offset + at,
            "entry " + i + " runs past the directory");
      }
      if (extra != 0) {
        throw new UnsupportedImageException(
            image,
            Structure.BITMAP_DIRECTORY,
            offset + at + 20,
            "entry " + i + " has extra data, which qemu does not support either");
      }
      String name = new String(dir.array(), at + 24, nameSize, StandardCharsets.UTF_8);
      BitmapEntry e =
          new BitmapEntry(
              dir.getLong(at),
              dir.getInt(at + 8),
              dir.getInt(at + 12),
              dir.get(at + 17) & 0xff,
              name);
      check(image, offset + at, e, dir.get(at + 16) & 0xff, nameSize, h, g, fileSize);
      for (BitmapEntry other : list) {
        if (other.name().equals(name)) {
          throw new CorruptImageException(
              image, Structure.BITMAP_DIRECTORY, offset + at, "names bitmap '" + name + "' twice");
        }
      }
      list.add(e);
      at += (int) ((24 + extra + nameSize + 7) & ~7L);
    }
    return List.copyOf(list);
  }

  /** qemu's check_dir_entry, with a message for each way an entry can fail it. */
  private static void check(
      String image,
      long at,
      BitmapEntry e,
      int type,
      int nameSize,
      Header h,
      ClusterGeometry g,
      long fileSize)
      throws IOException {
    String what = "bitmap '" + e.name() + "' ";
    String problem = null;
    if (type != 1) {
      problem = "has type " + type + " (only 1, dirty tracking, exists)";
    } else if (e.granularityBits() < BitmapEntry.MIN_GRANULARITY_BITS
        || e.granularityBits() > BitmapEntry.MAX_GRANULARITY_BITS) {
      problem = "has granularity_bits " + e.granularityBits() + ", outside qemu's 9 to 31";
    } else if (nameSize == 0 || nameSize > BitmapEntry.MAX_NAME_BYTES) {
      problem = "has a name of " + nameSize + " bytes; qemu allows 1 to 1023";
    } else if ((e.flags() & ~(BitmapEntry.FLAG_IN_USE | BitmapEntry.FLAG_AUTO)) != 0) {
      problem = "has unknown flags 0x" + Integer.toHexString(e.flags());
    } else if (e.tableSize() <= 0 || e.tableSize() > BitmapEntry.MAX_TABLE_SIZE) {
      problem = "has a bitmap table of " + Integer.toUnsignedString(e.tableSize()) + " entries";
    } else if ((long) e.tableSize() * g.clusterSize > BitmapEntry.MAX_BITMAP_BYTES) {
      problem = "takes more than qemu's 512 MiB of bitmap data";
    } else if (!e.inUse()
        && e.tableSize() < BitmapEntry.tableSizeFor(h.size(), e.granularityBits(), g.clusterBits)) {
      problem = "has a bitmap table of " + e.tableSize() + " entries, too few for the disk";
    }
    if (problem != null) {
      throw new CorruptImageException(image, Structure.BITMAP_DIRECTORY, at, what + problem);
    }
    Header.validateTable(
        image, Structure.BITMAP_TABLE, at, e.tableOffset(), 8L * e.tableSize(), g, fileSize);
  }

  /** The directory bytes for {@code entries}, in their order. */
  static ByteBuffer encode(List<BitmapEntry> entries) {
    int size = 0;
    for (BitmapEntry e : entries) {
      size += e.encodedSize();
    }
    ByteBuffer b = ByteBuffer.allocate(size);
    for (BitmapEntry e : entries) {
      int at = b.position();
      byte[] name = e.nameBytes();
      b.putLong(e.tableOffset()).putInt(e.tableSize()).putInt(e.flags());
      b.put((byte) 1).put((byte) e.granularityBits()).putShort((short) name.length).putInt(0);
      b.put(name);
      b.position(at + e.encodedSize());
    }
    return b.flip();
  }

  /** The bitmaps extension's data for a directory of {@code count} entries. */
  static byte[] extension(int count, long size, long offset) {
    return ByteBuffer.allocate(EXTENSION_BYTES)
        .putInt(count)
        .putInt(0)
        .putLong(size)
        .putLong(offset)
        .array();
  }
}
