package dev.qcow2;

/** The feature bits of a version 3 header (spec: "incompatible_features" and its siblings). */
final class FeatureBits {
  private FeatureBits() {}

  static final long INCOMPAT_DIRTY = 1L;
  static final long INCOMPAT_CORRUPT = 1L << 1;
  static final long INCOMPAT_DATA_FILE = 1L << 2;
  static final long INCOMPAT_COMPRESSION = 1L << 3;
  static final long INCOMPAT_EXTENDED_L2 = 1L << 4;
  static final long INCOMPAT_KNOWN =
      INCOMPAT_DIRTY
          | INCOMPAT_CORRUPT
          | INCOMPAT_DATA_FILE
          | INCOMPAT_COMPRESSION
          | INCOMPAT_EXTENDED_L2;

  static final long COMPAT_LAZY_REFCOUNTS = 1L;

  static final long AUTOCLEAR_BITMAPS = 1L;
  static final long AUTOCLEAR_DATA_FILE_RAW = 1L << 1;

  /** The names qemu writes into its feature name table, by type and bit. */
  static String defaultName(int type, int bit) {
    switch (type) {
      case 0:
        switch (bit) {
          case 0:
            return "dirty bit";
          case 1:
            return "corrupt bit";
          case 2:
            return "external data file";
          case 3:
            return "compression type";
          case 4:
            return "extended L2 entries";
          default:
            return null;
        }
      case 1:
        return bit == 0 ? "lazy refcounts" : null;
      case 2:
        return bit == 0 ? "bitmaps" : bit == 1 ? "raw external data" : null;
      default:
        return null;
    }
  }
}
