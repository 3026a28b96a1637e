package dev.qcow2;

import dev.qcow2.crypto.LuksException;
import dev.qcow2.crypto.LuksFormatter;

/**
 * How a new qcow2 image is made: qemu-img's create options for qcow2, with qemu-img's defaults
 * (version 3, 64 KiB clusters, 16-bit refcounts, zlib, no preallocation). Immutable; build with
 * {@link #builder(long)}.
 */
public final class CreateOptions {
  /** qemu-img's preallocation modes. */
  public enum Preallocation {
    OFF,
    /** Every L2 table and data cluster is allocated; the file stays sparse. */
    METADATA,
    /** As METADATA, and the data area is allocated in the file system. */
    FALLOC,
    /** As METADATA, and zeros are written to the data area. */
    FULL
  }

  private final long size;
  private final int version;
  private final int clusterSize;
  private final int refcountBits;
  private final boolean lazyRefcounts;
  private final boolean extendedL2;
  private final CompressionType compressionType;
  private final Preallocation preallocation;
  private final String backingFile;
  private final String backingFormat;
  private final String dataFile;
  private final boolean dataFileRaw;
  private final LuksFormatter.Options encryption;

  private CreateOptions(Builder b) {
    this.encryption = b.encryption;
    this.dataFile = b.dataFile;
    this.dataFileRaw = b.dataFileRaw;
    this.size = b.size;
    this.version = b.version;
    this.clusterSize = b.clusterSize;
    this.refcountBits = b.refcountBits;
    this.lazyRefcounts = b.lazyRefcounts;
    this.extendedL2 = b.extendedL2;
    this.compressionType = b.compressionType;
    this.preallocation = b.preallocation;
    this.backingFile = b.backingFile;
    this.backingFormat = b.backingFormat;
  }

  /** Options for a disk of {@code size} bytes (a multiple of 512, as qemu requires). */
  public static Builder builder(long size) {
    return new Builder(size);
  }

  public Builder toBuilder() {
    Builder b = new Builder(size);
    b.version = version;
    b.clusterSize = clusterSize;
    b.refcountBits = refcountBits;
    b.lazyRefcounts = lazyRefcounts;
    b.extendedL2 = extendedL2;
    b.compressionType = compressionType;
    b.preallocation = preallocation;
    b.backingFile = backingFile;
    b.backingFormat = backingFormat;
    b.dataFile = dataFile;
    b.dataFileRaw = dataFileRaw;
    b.encryption = encryption;
    return b;
  }

  /**
   * LUKS encryption (qemu's encrypt.format=luks and its encrypt.* options), or null for none. The
   * passphrase is the {@link OpenOptions#encryptionKey} given to {@link Qcow2Image#create}.
   */
  public LuksFormatter.Options encryption() {
    return encryption;
  }

  /** The external data file name, stored as given (relative to the image's folder), or null. */
  public String dataFile() {
    return dataFile;
  }

  /** Whether the data file alone is a valid raw image of the disk (qemu's data_file_raw). */
  public boolean dataFileRaw() {
    return dataFileRaw;
  }

  public long size() {
    return size;
  }

  /** 2 (qemu's compat=0.10) or 3 (compat=1.1). */
  public int version() {
    return version;
  }

  public int clusterSize() {
    return clusterSize;
  }

  public int refcountBits() {
    return refcountBits;
  }

  public boolean lazyRefcounts() {
    return lazyRefcounts;
  }

  public boolean extendedL2() {
    return extendedL2;
  }

  public CompressionType compressionType() {
    return compressionType;
  }

  public Preallocation preallocation() {
    return preallocation;
  }

  /** The backing file name, stored exactly as given (relative names stay relative), or null. */
  public String backingFile() {
    return backingFile;
  }

  /** "qcow2" or "raw", or null to leave the format out of the image. */
  public String backingFormat() {
    return backingFormat;
  }

  @Override
  public String toString() {
    return "CreateOptions[size="
        + size
        + ", version="
        + version
        + ", clusterSize="
        + clusterSize
        + ", refcountBits="
        + refcountBits
        + ", lazyRefcounts="
        + lazyRefcounts
        + ", extendedL2="
        + extendedL2
        + ", compressionType="
        + compressionType
        + ", preallocation="
        + preallocation
        + ", backingFile="
        + backingFile
        + ", backingFormat="
        + backingFormat
        + "]";
  }

  /** Builds {@link CreateOptions}; {@link #build()} checks the combination as qemu-img does. */
  public static final class Builder {
    private long size;
    private int version = 3;
    private int clusterSize = 65536;
    private int refcountBits = 16;
    private boolean lazyRefcounts;
    private boolean extendedL2;
    private CompressionType compressionType = CompressionType.ZLIB;
    private Preallocation preallocation = Preallocation.OFF;
    private String backingFile;
    private String backingFormat;
    private String dataFile;
    private boolean dataFileRaw;
    private LuksFormatter.Options encryption;

    private Builder(long size) {
      size(size);
    }

    /** The virtual size in bytes, a multiple of 512. */
    public Builder size(long size) {
      if (size < 0 || size % 512 != 0) {
        throw new IllegalArgumentException("size must be a non-negative multiple of 512: " + size);
      }
      this.size = size;
      return this;
    }

    /** 2 or 3; qemu-img's compat=0.10 and compat=1.1. */
    public Builder version(int version) {
      if (version != 2 && version != 3) {
        throw new IllegalArgumentException("version must be 2 or 3: " + version);
      }
      this.version = version;
      return this;
    }

    /** A power of two from 512 to 2 MiB; checked by {@link #build()}, in qemu's order. */
    public Builder clusterSize(int bytes) {
      this.clusterSize = bytes;
      return this;
    }

    /** 1, 2, 4, 8, 16, 32 or 64; checked by {@link #build()}, in qemu's order. */
    public Builder refcountBits(int bits) {
      this.refcountBits = bits;
      return this;
    }

    public Builder lazyRefcounts(boolean on) {
      this.lazyRefcounts = on;
      return this;
    }

    public Builder extendedL2(boolean on) {
      this.extendedL2 = on;
      return this;
    }

    public Builder compressionType(CompressionType type) {
      this.compressionType = java.util.Objects.requireNonNull(type, "compressionType");
      return this;
    }

    public Builder preallocation(Preallocation mode) {
      this.preallocation = java.util.Objects.requireNonNull(mode, "preallocation");
      return this;
    }

    /**
     * The backing file's name, stored as given, and its format ("qcow2" or "raw", or null to leave
     * it out); {@link #build()} refuses a format without a name.
     */
    public Builder backingFile(String name, String format) {
      if (name != null && name.isEmpty()) {
        throw new IllegalArgumentException("Expected backing file name, got empty string");
      }
      this.backingFile = name;
      this.backingFormat = format;
      return this;
    }

    /**
     * Keeps guest data in an external file (made next to the image if {@code name} is relative);
     * with {@code raw} that file is always a valid raw image of the disk, which {@link #build()}
     * refuses without a name.
     */
    public Builder dataFile(String name, boolean raw) {
      if (name != null && name.isEmpty()) {
        throw new IllegalArgumentException("data file name must not be empty");
      }
      this.dataFile = name;
      this.dataFileRaw = raw;
      return this;
    }

    /**
     * Checks the combination as qemu's qcow2_co_create does, in its order and with its messages, so
     * that a command line shows the same first error as qemu-img create.
     */
    /** Encrypts the image with LUKS under these options; null for none. */
    public Builder encryption(LuksFormatter.Options luks) {
      this.encryption = luks;
      return this;
    }

    public CreateOptions build() {
      boolean v2 = version == 2;
      String v3Needed =
          "only supported with compatibility level 1.1 and above (use version=v3 or greater)";
      check(!(v2 && extendedL2), "Extended L2 entries are " + v3Needed);
      check(
          clusterSize >= 512 && clusterSize <= (2 << 20) && Integer.bitCount(clusterSize) == 1,
          "Cluster size must be a power of two between 512 and 2048k");
      check(
          !extendedL2 || clusterSize >= 16384,
          "Extended L2 entries are only supported with cluster sizes of at least 16384 bytes");
      check(
          backingFile == null || preallocation == Preallocation.OFF || extendedL2,
          "Backing file and preallocation can only be used at the same time if extended_l2 is on");
      check(
          backingFormat == null || backingFile != null,
          "Backing format cannot be used without backing file");
      check(!(v2 && lazyRefcounts), "Lazy refcounts " + v3Needed);
      check(
          refcountBits >= 1 && refcountBits <= 64 && Integer.bitCount(refcountBits) == 1,
          "Refcount width must be a power of two and may not exceed 64 bits");
      check(
          !(v2 && refcountBits != 16),
          "Different refcount widths than 16 bits require compatibility level 1.1 "
              + "or above (use version=v3 or greater)");
      check(!dataFileRaw || dataFile != null, "data-file-raw requires data-file");
      check(
          !dataFileRaw || backingFile == null,
          "Backing file and data-file-raw cannot be used at the same time");
      check(!(v2 && dataFile != null), "External data files are " + v3Needed);
      check(
          !(v2 && compressionType != CompressionType.ZLIB),
          "Non-zlib compression type is " + v3Needed);
      ClusterGeometry g =
          new ClusterGeometry(Integer.numberOfTrailingZeros(clusterSize), extendedL2);
      check(
          g.l1EntriesFor(size) <= QemuLimits.MAX_L1_ENTRIES,
          "The image size is too large for file format 'qcow2' (try using a larger cluster size)");
      // qemu would follow any driver; we read and write only these two.
      check(
          backingFormat == null || backingFormat.equals("qcow2") || backingFormat.equals("raw"),
          "backing format '" + backingFormat + "' is not supported (only qcow2 and raw)");
      if (backingFile != null) {
        check(
            backingFile.getBytes(java.nio.charset.StandardCharsets.UTF_8).length
                <= Header.MAX_BACKING_FILE_NAME,
            "backing file name is longer than 1023 bytes");
      }
      if (encryption != null) {
        try {
          LuksFormatter.check(encryption);
        } catch (LuksException e) {
          throw new IllegalArgumentException(e.getMessage(), e);
        }
      }
      return new CreateOptions(this);
    }

    private static void check(boolean ok, String message) {
      if (!ok) {
        throw new IllegalArgumentException(message);
      }
    }
  }
}
