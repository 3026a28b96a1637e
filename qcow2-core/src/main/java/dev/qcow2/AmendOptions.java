package dev.qcow2;

/**
 * What {@link Qcow2Image#amend} changes; everything left unset stays as it is. qemu-img amend's
 * options: compat, lazy_refcounts, refcount_bits, backing_file and backing_fmt.
 */
public final class AmendOptions {
  private final Integer version;
  private final Boolean lazyRefcounts;
  private final Integer refcountBits;
  private final boolean changeBacking;
  private final String backingFile;
  private final String backingFormat;

  private AmendOptions(Builder b) {
    this.version = b.version;
    this.lazyRefcounts = b.lazyRefcounts;
    this.refcountBits = b.refcountBits;
    this.changeBacking = b.changeBacking;
    this.backingFile = b.backingFile;
    this.backingFormat = b.backingFormat;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** 2 (compat 0.10) or 3 (compat 1.1), or null to keep. */
  public Integer version() {
    return version;
  }

  public Boolean lazyRefcounts() {
    return lazyRefcounts;
  }

  public Integer refcountBits() {
    return refcountBits;
  }

  public boolean changesBacking() {
    return changeBacking;
  }

  public String backingFile() {
    return backingFile;
  }

  public String backingFormat() {
    return backingFormat;
  }

  public static final class Builder {
    private Integer version;
    private Boolean lazyRefcounts;
    private Integer refcountBits;
    private boolean changeBacking;
    private String backingFile;
    private String backingFormat;

    private Builder() {}

    public Builder version(int v) {
      if (v != 2 && v != 3) {
        throw new IllegalArgumentException(
            "version must be 2 (compat 0.10) or 3 (compat 1.1): " + v);
      }
      this.version = v;
      return this;
    }

    public Builder lazyRefcounts(boolean on) {
      this.lazyRefcounts = on;
      return this;
    }

    public Builder refcountBits(int bits) {
      if (bits < 1 || bits > 64 || Integer.bitCount(bits) != 1) {
        throw new IllegalArgumentException(
            "Refcount width must be a power of two and may not exceed 64 bits");
      }
      this.refcountBits = bits;
      return this;
    }

    /**
     * A new backing file name (stored as given; null or "" for none) and format (null for none).
     */
    public Builder backingFile(String name, String format) {
      if (format != null && !format.equals("qcow2") && !format.equals("raw")) {
        throw new IllegalArgumentException("backing format must be qcow2 or raw: " + format);
      }
      this.changeBacking = true;
      this.backingFile = name == null || name.isEmpty() ? null : name;
      this.backingFormat = this.backingFile == null ? null : format;
      return this;
    }

    public AmendOptions build() {
      return new AmendOptions(this);
    }
  }
}
