package dev.qcow2;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The qcow2 header in cluster 0, parsed and validated once. All integers are big-endian.
 *
 * <pre>
 *  0x00  4  magic "QFI\xfb"             0x30  8  refcount_table_offset
 *  0x04  4  version (2 or 3)            0x38  4  refcount_table_clusters
 *  0x08  8  backing_file_offset         0x3c  4  nb_snapshots
 *  0x10  4  backing_file_size           0x40  8  snapshots_offset
 *  0x14  4  cluster_bits                ---- end of version 2 (72 bytes) ----
 *  0x18  8  size (virtual, bytes)       0x48  8  incompatible_features
 *  0x20  4  crypt_method                0x50  8  compatible_features
 *  0x24  4  l1_size (entries)           0x58  8  autoclear_features
 *  0x28  8  l1_table_offset             0x60  4  refcount_order
 *                                       0x64  4  header_length
 *                                       0x68  1  compression_type (if header_length > 104)
 * </pre>
 *
 * Header extensions follow at header_length (72 in version 2) and end at the end marker, at the
 * backing file name, or at the end of the cluster. Validation here covers every field that bounds
 * memory or time; table contents are validated where they are read.
 */
record Header(
    int version,
    long backingFileOffset,
    int backingFileSize,
    int clusterBits,
    long size,
    int cryptMethod,
    int l1Size,
    long l1TableOffset,
    long refcountTableOffset,
    int refcountTableClusters,
    int nbSnapshots,
    long snapshotsOffset,
    long incompatibleFeatures,
    long compatibleFeatures,
    long autoclearFeatures,
    int refcountOrder,
    int headerLength,
    CompressionType compressionType,
    List<HeaderExtension> extensions,
    String backingFileName) {

  /**
   * The fixed fields that change after an image is created, where they lie and how wide they are:
   * the one map of those offsets, for {@link #parse} and for {@link HeaderUpdate}.
   */
  enum Field {
    VERSION(0x04, 4),
    SIZE(0x18, 8),
    L1_SIZE(0x24, 4),
    L1_TABLE_OFFSET(0x28, 8),
    REFCOUNT_TABLE_OFFSET(0x30, 8),
    REFCOUNT_TABLE_CLUSTERS(0x38, 4),
    NB_SNAPSHOTS(0x3c, 4),
    SNAPSHOTS_OFFSET(0x40, 8),
    INCOMPATIBLE_FEATURES(0x48, 8),
    COMPATIBLE_FEATURES(0x50, 8),
    AUTOCLEAR_FEATURES(0x58, 8),
    REFCOUNT_ORDER(0x60, 4),
    HEADER_LENGTH(0x64, 4);

    final int offset;
    final int width;

    Field(int offset, int width) {
      this.offset = offset;
      this.width = width;
    }

    /** The field's value in {@code b}, which starts at byte {@code base} of the header. */
    long get(ByteBuffer b, int base) {
      return width == 8 ? b.getLong(offset - base) : b.getInt(offset - base);
    }

    /** Puts {@code value} into {@code b}, which starts at byte {@code base} of the header. */
    void put(ByteBuffer b, int base, long value) {
      if (width == 8) {
        b.putLong(offset - base, value);
      } else {
        b.putInt(offset - base, (int) value);
      }
    }
  }

  static final int MAGIC = 0x514649fb;
  static final int V2_HEADER_LENGTH = 72;
  static final int V3_MIN_HEADER_LENGTH = 104;
  static final int MIN_CLUSTER_BITS = 9;
  static final int MAX_CLUSTER_BITS = 21;

  /** qemu refuses longer backing file names. */
  static final int MAX_BACKING_FILE_NAME = 1023;

  /** qemu's bounds: the refcount table at most 8 MiB, at most 65536 snapshots. */
  static final long MAX_REFCOUNT_TABLE_BYTES = 8L << 20;

  static final int MAX_SNAPSHOTS = 65536;

  boolean hasExtendedL2() {
    return (incompatibleFeatures & FeatureBits.INCOMPAT_EXTENDED_L2) != 0;
  }

  boolean isDirty() {
    return (incompatibleFeatures & FeatureBits.INCOMPAT_DIRTY) != 0;
  }

  boolean isCorrupt() {
    return (incompatibleFeatures & FeatureBits.INCOMPAT_CORRUPT) != 0;
  }

  boolean hasExternalDataFile() {
    return (incompatibleFeatures & FeatureBits.INCOMPAT_DATA_FILE) != 0;
  }

  boolean hasLazyRefcounts() {
    return (compatibleFeatures & FeatureBits.COMPAT_LAZY_REFCOUNTS) != 0;
  }

  int refcountBits() {
    return 1 << refcountOrder;
  }

  int clusterSize() {
    return 1 << clusterBits;
  }

  HeaderExtension extension(int type) {
    for (HeaderExtension e : extensions) {
      if (e.type() == type) {
        return e;
      }
    }
    return null;
  }

  /**
   * Parses and validates the header.
   *
   * @param image the image name for messages
   * @param cluster0 the first bytes of the file: at least the whole first cluster, or the whole
   *     file if it is shorter
   * @param fileSize the size of the image file
   * @param limits the open options whose limits apply
   */
  static Header parse(String image, ByteBuffer cluster0, long fileSize, OpenOptions limits)
      throws Qcow2Exception {
    ByteBuffer b = cluster0.duplicate().order(java.nio.ByteOrder.BIG_ENDIAN);
    int available = b.remaining();
    if (available < 8 || b.getInt(0) != MAGIC) {
      throw new NotQcow2Exception(
          image, Structure.HEADER, 0, "has no qcow2 magic: not a qcow2 image");
    }
    int version = b.getInt(4);
    if (version != 2 && version != 3) {
      throw new UnsupportedImageException(
          image,
          Structure.HEADER,
          4,
          "version " + Integer.toUnsignedString(version) + " is not supported (2 or 3 expected)");
    }
    int minLength = version == 2 ? V2_HEADER_LENGTH : V3_MIN_HEADER_LENGTH;
    if (available < minLength) {
      throw new CorruptImageException(
          image,
          Structure.HEADER,
          0,
          "is truncated: " + available + " bytes, " + minLength + " expected");
    }
    long backingFileOffset = b.getLong(8);
    int backingFileSize = b.getInt(16);
    int clusterBits = b.getInt(20);
    long size = Field.SIZE.get(b, 0);
    int cryptMethod = b.getInt(32);
    int l1Size = (int) Field.L1_SIZE.get(b, 0);
    long l1TableOffset = Field.L1_TABLE_OFFSET.get(b, 0);
    long refcountTableOffset = Field.REFCOUNT_TABLE_OFFSET.get(b, 0);
    int refcountTableClusters = (int) Field.REFCOUNT_TABLE_CLUSTERS.get(b, 0);
    int nbSnapshots = (int) Field.NB_SNAPSHOTS.get(b, 0);
    long snapshotsOffset = Field.SNAPSHOTS_OFFSET.get(b, 0);

    if (clusterBits > MAX_CLUSTER_BITS && clusterBits < 64) {
      // The spec only asks for 9 or more; 2 MiB is qemu's limit, and ours.
      throw new UnsupportedImageException(
          image,
          Structure.HEADER,
          20,
          "cluster_bits "
              + clusterBits
              + " is not supported (clusters of 512 bytes to 2 MiB, bits 9 to 21)");
    }
    if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
      throw new CorruptImageException(
          image,
          Structure.HEADER,
          20,
          "cluster_bits "
              + Integer.toUnsignedString(clusterBits)
              + " is out of range (9 to 21 expected)");
    }
    int clusterSize = 1 << clusterBits;

    long incompatible = 0;
    long compatible = 0;
    long autoclear = 0;
    int refcountOrder = 4;
    int headerLength = V2_HEADER_LENGTH;
    CompressionType compression = CompressionType.ZLIB;
    if (version == 3) {
      incompatible = Field.INCOMPATIBLE_FEATURES.get(b, 0);
      compatible = Field.COMPATIBLE_FEATURES.get(b, 0);
      autoclear = Field.AUTOCLEAR_FEATURES.get(b, 0);
      refcountOrder = (int) Field.REFCOUNT_ORDER.get(b, 0);
      headerLength = (int) Field.HEADER_LENGTH.get(b, 0);
      if (headerLength < V3_MIN_HEADER_LENGTH || headerLength > clusterSize) {
        throw new CorruptImageException(
            image,
            Structure.HEADER,
            100,
            "header_length "
                + Integer.toUnsignedString(headerLength)
                + " is out of range ("
                + V3_MIN_HEADER_LENGTH
                + " to "
                + clusterSize
                + " expected)");
      }
      if (headerLength > available) {
        throw new CorruptImageException(
            image,
            Structure.HEADER,
            100,
            "header_length "
                + headerLength
                + " runs past the end of the file ("
                + available
                + " bytes)");
      }
      if (headerLength > V3_MIN_HEADER_LENGTH) {
        int code = b.get(104) & 0xff;
        compression = CompressionType.ofCode(code);
        if (compression == null) {
          throw new UnsupportedImageException(
              image,
              Structure.HEADER,
              104,
              "compression_type " + code + " is not supported (0 zlib or 1 zstd expected)");
        }
      }
      boolean bitSet = (incompatible & FeatureBits.INCOMPAT_COMPRESSION) != 0;
      if (bitSet != (compression != CompressionType.ZLIB)) {
        throw new CorruptImageException(
            image,
            Structure.HEADER,
            72,
            "compression type feature bit is "
                + (bitSet ? "set" : "clear")
                + " but compression_type is "
                + compression.qemuName());
      }
    }

    if (refcountOrder < 0 || refcountOrder > 6) {
      throw new CorruptImageException(
          image,
          Structure.HEADER,
          96,
          "refcount_order "
              + Integer.toUnsignedString(refcountOrder)
              + " is out of range (0 to 6 expected)");
    }
    if (cryptMethod != 0
        && cryptMethod != ImageEncryption.LEGACY_AES
        && cryptMethod != ImageEncryption.LUKS) {
      throw new UnsupportedImageException(
          image,
          Structure.HEADER,
          32,
          "crypt_method "
              + Integer.toUnsignedString(cryptMethod)
              + " is not supported (0 none, 1 aes or 2 luks expected)");
    }
    if (size < 0) {
      throw new CorruptImageException(
          image,
          Structure.HEADER,
          24,
          "virtual size " + Long.toUnsignedString(size) + " is larger than qcow2 allows");
    }
    if ((incompatible & FeatureBits.INCOMPAT_EXTENDED_L2) != 0 && clusterBits < 14) {
      throw new CorruptImageException(
          image,
          Structure.HEADER,
          20,
          "extended L2 entries need clusters of 16 KiB or more, cluster_bits is " + clusterBits);
    }

    List<HeaderExtension> extensions =
        parseExtensions(image, b, headerLength, backingFileOffset, clusterSize, available);

    long unknown = incompatible & ~FeatureBits.INCOMPAT_KNOWN;
    if (unknown != 0) {
      throw new UnsupportedImageException(
          image,
          Structure.HEADER,
          72,
          "has unsupported incompatible features: " + featureNames(extensions, unknown));
    }

    String backingFileName = null;
    if (backingFileOffset != 0) {
      if (Integer.toUnsignedLong(backingFileSize) > MAX_BACKING_FILE_NAME) {
        throw new ImageLimitException(
            image,
            Structure.BACKING_FILE_NAME,
            16,
            "length "
                + Integer.toUnsignedString(backingFileSize)
                + " is over the limit of "
                + MAX_BACKING_FILE_NAME);
      }
      if (backingFileOffset < headerLength || backingFileOffset > clusterSize - backingFileSize) {
        throw new CorruptImageException(
            image,
            Structure.BACKING_FILE_NAME,
            8,
            "offset 0x"
                + Long.toHexString(backingFileOffset)
                + " and length "
                + backingFileSize
                + " do not lie in the first cluster after the header");
      }
      if (backingFileOffset > available - backingFileSize) {
        throw new CorruptImageException(
            image, Structure.BACKING_FILE_NAME, backingFileOffset, "runs past the end of the file");
      }
      byte[] name = new byte[backingFileSize];
      b.get((int) backingFileOffset, name);
      backingFileName = new String(name, StandardCharsets.UTF_8);
      if (backingFileName.indexOf('\0') >= 0) {
        // No file system takes such a name; qemu would silently cut it at the NUL.
        throw new CorruptImageException(
            image, Structure.BACKING_FILE_NAME, backingFileOffset, "contains a NUL byte");
      }
    }
    if ((incompatible & FeatureBits.INCOMPAT_DATA_FILE) != 0) {
      for (HeaderExtension e : extensions) {
        if (e.type() == HeaderExtension.EXTERNAL_DATA_FILE && e.text().indexOf('\0') >= 0) {
          throw new CorruptImageException(
              image, Structure.EXTERNAL_DATA_FILE, e.hostOffset(), "name contains a NUL byte");
        }
      }
    }

    // Tables must be aligned, inside the file and within the open limits.
    if (Integer.toUnsignedLong(l1Size) > limits.maxL1Entries()) {
      throw new ImageLimitException(
          image,
          Structure.L1_TABLE,
          36,
          "size "
              + Integer.toUnsignedString(l1Size)
              + " entries is over the limit of "
              + limits.maxL1Entries());
    }
    ClusterGeometry g =
        new ClusterGeometry(clusterBits, (incompatible & FeatureBits.INCOMPAT_EXTENDED_L2) != 0);
    long needed = g.l1EntriesFor(size);
    if (needed > Integer.toUnsignedLong(l1Size)) {
      if (needed > limits.maxL1Entries()) {
        throw new ImageLimitException(
            image,
            Structure.HEADER,
            24,
            "virtual size "
                + size
                + " needs "
                + needed
                + " L1 entries, over the limit of "
                + limits.maxL1Entries());
      }
      throw new CorruptImageException(
          image,
          Structure.L1_TABLE,
          36,
          "has "
              + l1Size
              + " entries, too few for the virtual size "
              + size
              + " ("
              + needed
              + " needed)");
    }
    if (l1Size > 0) {
      validateTable(image, Structure.L1_TABLE, 40, l1TableOffset, (long) l1Size * 8, g, fileSize);
    } else if (l1TableOffset < 0 || !g.isClusterAligned(l1TableOffset)) {
      // qemu validates the offset of an empty L1 table too; no read may start at a negative one.
      throw new CorruptImageException(
          image,
          Structure.L1_TABLE,
          40,
          "offset 0x" + Long.toHexString(l1TableOffset) + " is invalid or not cluster-aligned");
    }
    long reftableBytes = Integer.toUnsignedLong(refcountTableClusters) << clusterBits;
    if (reftableBytes == 0) {
      throw new CorruptImageException(
          image, Structure.REFCOUNT_TABLE, 56, "has no clusters (refcount_table_clusters is 0)");
    }
    if (reftableBytes > MAX_REFCOUNT_TABLE_BYTES) {
      throw new ImageLimitException(
          image,
          Structure.REFCOUNT_TABLE,
          56,
          "size " + reftableBytes + " bytes is over the limit of " + MAX_REFCOUNT_TABLE_BYTES);
    }
    validateTable(
        image, Structure.REFCOUNT_TABLE, 48, refcountTableOffset, reftableBytes, g, fileSize);
    if (Integer.toUnsignedLong(nbSnapshots) > Math.min(MAX_SNAPSHOTS, limits.maxSnapshots())) {
      throw new ImageLimitException(
          image,
          Structure.SNAPSHOT_TABLE,
          60,
          "count "
              + Integer.toUnsignedString(nbSnapshots)
              + " is over the limit of "
              + Math.min(MAX_SNAPSHOTS, limits.maxSnapshots()));
    }
    if (nbSnapshots > 0) {
      // Each entry is at least 40 bytes, so the table cannot be shorter than that.
      validateTable(
          image,
          Structure.SNAPSHOT_TABLE,
          64,
          snapshotsOffset,
          (long) nbSnapshots * 40,
          g,
          fileSize);
    }

    return new Header(
        version,
        backingFileOffset,
        backingFileSize,
        clusterBits,
        size,
        cryptMethod,
        l1Size,
        l1TableOffset,
        refcountTableOffset,
        refcountTableClusters,
        nbSnapshots,
        snapshotsOffset,
        incompatible,
        compatible,
        autoclear,
        refcountOrder,
        headerLength,
        compression,
        List.copyOf(extensions),
        backingFileName);
  }

  /** qemu's qcow2_validate_table: aligned, and wholly inside the file. */
  static void validateTable(
      String image,
      Structure table,
      long fieldOffset,
      long tableOffset,
      long bytes,
      ClusterGeometry g,
      long fileSize)
      throws CorruptImageException {
    if (tableOffset <= 0 || !g.isClusterAligned(tableOffset)) {
      throw new CorruptImageException(
          image,
          table,
          fieldOffset,
          "offset 0x" + Long.toHexString(tableOffset) + " is invalid or not cluster-aligned");
    }
    if (tableOffset > fileSize || bytes > fileSize - tableOffset) {
      throw new CorruptImageException(
          image,
          table,
          fieldOffset,
          "at 0x"
              + Long.toHexString(tableOffset)
              + " with "
              + bytes
              + " bytes runs past the end of the file ("
              + fileSize
              + " bytes)");
    }
  }

  private static List<HeaderExtension> parseExtensions(
      String image,
      ByteBuffer b,
      int headerLength,
      long backingFileOffset,
      int clusterSize,
      int available)
      throws CorruptImageException {
    List<HeaderExtension> list = new ArrayList<>();
    long end = Math.min(clusterSize, available);
    if (backingFileOffset > 0 && backingFileOffset < end) {
      end = backingFileOffset;
    }
    long at = headerLength;
    while (at + 8 <= end) {
      int type = b.getInt((int) at);
      long length = Integer.toUnsignedLong(b.getInt((int) at + 4));
      if (type == HeaderExtension.END) {
        break;
      }
      if (length > end - at - 8) {
        throw new CorruptImageException(
            image,
            Structure.HEADER_EXTENSION,
            at,
            "0x"
                + Integer.toHexString(type)
                + " declares "
                + length
                + " bytes, past the extension area ending at 0x"
                + Long.toHexString(end));
      }
      byte[] data = new byte[(int) length];
      b.get((int) at + 8, data);
      list.add(new HeaderExtension(type, at, data));
      at += 8 + ((length + 7) & ~7L);
    }
    return list;
  }

  /** Names of the given incompatible bits, from the image's feature name table where it has one. */
  private static String featureNames(List<HeaderExtension> extensions, long bits) {
    StringBuilder sb = new StringBuilder();
    for (int bit = 0; bit < 64; bit++) {
      if ((bits & (1L << bit)) == 0) {
        continue;
      }
      String name = null;
      for (HeaderExtension e : extensions) {
        if (e.type() != HeaderExtension.FEATURE_NAME_TABLE) {
          continue;
        }
        byte[] d = e.data();
        for (int i = 0; i + 48 <= d.length; i += 48) {
          if (d[i] == 0 && (d[i + 1] & 0xff) == bit) {
            int len = 0;
            while (len < 46 && d[i + 2 + len] != 0) {
              len++;
            }
            name = new String(d, i + 2, len, StandardCharsets.UTF_8);
          }
        }
      }
      if (sb.length() > 0) {
        sb.append(", ");
      }
      sb.append(name != null ? name + " (bit " + bit + ")" : "unknown bit " + bit);
    }
    return sb.toString();
  }
}
