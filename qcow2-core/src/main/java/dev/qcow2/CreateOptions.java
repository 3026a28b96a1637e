package dev.qcow2;

import dev.qcow2.crypto.LuksException;
import dev.qcow2.crypto.LuksOptions;
import dev.qcow2.internal.crypto.LuksFormatter;

/**
 * How a new qcow2 image is made: qemu-img's create options for qcow2, with qemu-img's defaults
 * (version 3, 64 KiB clusters, 16-bit refcounts, zlib, no preallocation). Immutable; build with
 * {@link #builder(long)}.
 */
public final class CreateOptions {
  /** qemu-img's preallocation modes. */
  public enum Preallocation {
    /** Nothing is allocated ahead: clusters are allocated as they are first written. */
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
  private final LuksOptions encryption;

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

  /**
   * Options for a disk of {@code size} bytes, qemu-img's defaults otherwise.
   *
   * @param size the virtual disk size in bytes: a multiple of 512, as qemu requires
   * @return a new builder
   * @throws IllegalArgumentException if {@code size} is negative or not a multiple of 512
   */
  public static Builder builder(long size) {
    return new Builder(size);
  }

  /**
   * A builder that starts from these options, to derive others; these stay as they are.
   *
   * @return a new builder holding every setting of these options
   */
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
   * LUKS encryption (qemu's encrypt.format=luks and its encrypt.* options). The passphrase is the
   * {@link OpenOptions.Builder#encryptionKey} given to {@link Qcow2Image#create}.
   *
   * @return the encryption's settings, or null for an image that is not encrypted
   */
  public LuksOptions encryption() {
    return encryption;
  }

  /**
   * Where guest data goes instead of the image file (qemu's data_file).
   *
   * @return the external data file name, stored as given (relative to the image's folder), or null
   *     to keep the data in the image
   */
  public String dataFile() {
    return dataFile;
  }

  /**
   * Whether the data file alone is a valid raw image of the disk (qemu's data_file_raw).
   *
   * @return true if every write also goes to the data file at its guest offset
   */
  public boolean dataFileRaw() {
    return dataFileRaw;
  }

  /**
   * The virtual disk size.
   *
   * @return the size in bytes, a multiple of 512
   */
  public long size() {
    return size;
  }

  /**
   * The image version.
   *
   * @return 2 (qemu's compat=0.10) or 3 (compat=1.1, the default)
   */
  public int version() {
    return version;
  }

  /**
   * The cluster size (qemu's cluster_size).
   *
   * @return bytes per cluster: a power of two from 512 to 2 MiB, 64 KiB by default
   */
  public int clusterSize() {
    return clusterSize;
  }

  /**
   * The width of a refcount (qemu's refcount_bits).
   *
   * @return 1, 2, 4, 8, 16 (the default), 32 or 64 bits
   */
  public int refcountBits() {
    return refcountBits;
  }

  /**
   * Whether refcounts are updated lazily (qemu's lazy_refcounts; version 3 only).
   *
   * @return true to set the lazy refcounts bit; false by default
   */
  public boolean lazyRefcounts() {
    return lazyRefcounts;
  }

  /**
   * Whether L2 entries carry subcluster bitmaps (qemu's extended_l2; version 3 only).
   *
   * @return true for extended L2 entries; false by default
   */
  public boolean extendedL2() {
    return extendedL2;
  }

  /**
   * How compressed clusters are encoded (qemu's compression_type).
   *
   * @return the type; zlib by default
   */
  public CompressionType compressionType() {
    return compressionType;
  }

  /**
   * What is allocated at creation (qemu's preallocation).
   *
   * @return the mode; {@link Preallocation#OFF} by default
   */
  public Preallocation preallocation() {
    return preallocation;
  }

  /**
   * The backing file to name in the image.
   *
   * @return the name, stored exactly as given (relative names stay relative), or null for none
   */
  public String backingFile() {
    return backingFile;
  }

  /**
   * The backing file's format to name in the image.
   *
   * @return "qcow2" or "raw", or null to leave the format out of the image
   */
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
    private LuksOptions encryption;

    private Builder(long size) {
      size(size);
    }

    /**
     * Sets the virtual disk size.
     *
     * @param size the size in bytes, a multiple of 512
     * @return this builder
     * @throws IllegalArgumentException if {@code size} is negative or not a multiple of 512
     */
    public Builder size(long size) {
      if (size < 0 || size % 512 != 0) {
        throw new IllegalArgumentException("size must be a non-negative multiple of 512: " + size);
      }
      this.size = size;
      return this;
    }

    /**
     * Sets the image version.
     *
     * @param version 2 or 3: qemu-img's compat=0.10 and compat=1.1
     * @return this builder
     * @throws IllegalArgumentException if {@code version} is neither 2 nor 3
     */
    public Builder version(int version) {
      if (version != 2 && version != 3) {
        throw new IllegalArgumentException("version must be 2 or 3: " + version);
      }
      this.version = version;
      return this;
    }

    /**
     * Sets the cluster size.
     *
     * @param bytes a power of two from 512 to 2 MiB; checked by {@link #build()}, in qemu's order
     * @return this builder
     */
    public Builder clusterSize(int bytes) {
      this.clusterSize = bytes;
      return this;
    }

    /**
     * Sets the width of a refcount.
     *
     * @param bits 1, 2, 4, 8, 16, 32 or 64; checked by {@link #build()}, in qemu's order
     * @return this builder
     */
    public Builder refcountBits(int bits) {
      this.refcountBits = bits;
      return this;
    }

    /**
     * Sets the lazy refcounts bit (version 3 only, checked by {@link #build()}).
     *
     * @param on true to update refcounts lazily
     * @return this builder
     */
    public Builder lazyRefcounts(boolean on) {
      this.lazyRefcounts = on;
      return this;
    }

    /**
     * Gives L2 entries subcluster bitmaps (version 3 and clusters of 16 KiB or more, checked by
     * {@link #build()}).
     *
     * @param on true for extended L2 entries
     * @return this builder
     */
    public Builder extendedL2(boolean on) {
      this.extendedL2 = on;
      return this;
    }

    /**
     * Sets how compressed clusters are encoded (zstd needs version 3, checked by {@link #build()}).
     *
     * @param type the compression type; not null
     * @return this builder
     * @throws NullPointerException if {@code type} is null
     */
    public Builder compressionType(CompressionType type) {
      this.compressionType = java.util.Objects.requireNonNull(type, "compressionType");
      return this;
    }

    /**
     * Sets what is allocated at creation.
     *
     * @param mode the preallocation mode; not null
     * @return this builder
     * @throws NullPointerException if {@code mode} is null
     */
    public Builder preallocation(Preallocation mode) {
      this.preallocation = java.util.Objects.requireNonNull(mode, "preallocation");
      return this;
    }

    /**
     * The backing file's name, stored as given, and its format ("qcow2" or "raw", or null to leave
     * it out); {@link #build()} refuses a format without a name.
     *
     * @param name the backing file name, or null for none
     * @param format "qcow2", "raw" or null
     * @return this builder
     * @throws IllegalArgumentException if {@code name} is empty
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
     *
     * @param name the data file name, or null for none
     * @param raw qemu's data_file_raw
     * @return this builder
     * @throws IllegalArgumentException if {@code name} is empty
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
     * Encrypts the image with LUKS (qemu's encrypt.format=luks) under these options.
     *
     * @param luks the cipher, IV, hash and PBKDF2 time; null for an image that is not encrypted
     * @return this builder
     */
    public Builder encryption(LuksOptions luks) {
      this.encryption = luks;
      return this;
    }

    /**
     * Checks the combination as qemu's qcow2_co_create does, in its order and with its messages, so
     * that a command line shows the same first error as qemu-img create.
     *
     * @return new immutable options; the builder may be used on
     * @throws IllegalArgumentException with qemu-img's message, for the first setting qemu-img
     *     create would refuse
     */
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
