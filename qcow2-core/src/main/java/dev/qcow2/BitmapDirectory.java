package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the bitmap directory named by the bitmaps header extension, enough to list the bitmaps. The
 * extension is only valid while the "bitmaps" autoclear bit is set; otherwise it is ignored.
 *
 * <pre>
 * extension: 0 u32 nb_bitmaps, 4 u32 reserved, 8 u64 bitmap_directory_size, 16 u64 offset
 * entry:     0 u64 bitmap_table_offset, 8 u32 bitmap_table_size, 12 u32 flags, 16 u8 type,
 *            17 u8 granularity_bits, 18 u16 name_size, 20 u32 extra_data_size, 24 extra, name
 * </pre>
 */
final class BitmapDirectory {
  static final long MAX_DIRECTORY_BYTES = 1024L * 65535;
  private static final int FLAG_IN_USE = 1;
  private static final int FLAG_AUTO = 2;

  private BitmapDirectory() {}

  static List<Bitmap> read(
      String image, Storage storage, Header h, ClusterGeometry g, long fileSize)
      throws IOException {
    HeaderExtension ext = h.extension(HeaderExtension.BITMAPS);
    if (ext == null || (h.autoclearFeatures() & FeatureBits.AUTOCLEAR_BITMAPS) == 0) {
      return List.of();
    }
    if (ext.data().length < 24) {
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
    if (count == 0 || count > 65535 || size < 0 || size > MAX_DIRECTORY_BYTES) {
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
    List<Bitmap> list = new ArrayList<>();
    int at = 0;
    for (long i = 0; i < count; i++) {
      if (at + 24 > size) {
        throw new CorruptImageException(
            image,
            Structure.BITMAP_DIRECTORY,
            offset + at,
            "entry " + i + " runs past the directory");
      }
      int flags = dir.getInt(at + 12);
      int granularityBits = dir.get(at + 17) & 0xff;
      int nameSize = dir.getShort(at + 18) & 0xffff;
      long extra = Integer.toUnsignedLong(dir.getInt(at + 20));
      if (granularityBits > 63 || at + 24 + extra + nameSize > size) {
        throw new CorruptImageException(
            image, Structure.BITMAP_DIRECTORY, offset + at, "entry " + i + " is malformed");
      }
      String name =
          new String(dir.array(), at + 24 + (int) extra, nameSize, StandardCharsets.UTF_8);
      list.add(
          new Bitmap(
              name, 1L << granularityBits, (flags & FLAG_IN_USE) != 0, (flags & FLAG_AUTO) != 0));
      at += (int) ((24 + extra + nameSize + 7) & ~7L);
    }
    return List.copyOf(list);
  }
}
