package dev.qcow2;

import dev.qcow2.crypto.LuksAmendOptions;

/**
 * What {@link Qcow2Image#amend} changes; everything left unset stays as it is. qemu-img amend's
 * options: compat, lazy_refcounts, refcount_bits, backing_file and backing_fmt, and the key slots
 * of a LUKS-encrypted image ({@code encrypt.state}, {@code encrypt.keyslot}, {@code
 * encrypt.old-secret}, {@code encrypt.new-secret}, {@code encrypt.iter-time}), which need the
 * image's passphrase ({@link Builder#encryptionKey}) and are made before anything else changes.
 */
public final class AmendOptions {
  private final Integer version;
  private final Boolean lazyRefcounts;
  private final Integer refcountBits;
  private final boolean changeBacking;
  private final String backingFile;
  private final String backingFormat;
  private final LuksAmendOptions keySlots;
  private final byte[] encryptionKey;
  private final boolean force;

  private AmendOptions(Builder b) {
    this.version = b.version;
    this.lazyRefcounts = b.lazyRefcounts;
    this.refcountBits = b.refcountBits;
    this.changeBacking = b.changeBacking;
    this.backingFile = b.backingFile;
    this.backingFormat = b.backingFormat;
    this.keySlots = b.keySlots;
    this.encryptionKey = b.encryptionKey == null ? null : b.encryptionKey.clone();
    this.force = b.force;
  }

  /**
   * A builder that changes nothing until told.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * The image version to convert to (qemu-img's {@code compat}).
   *
   * @return 2 (compat 0.10) or 3 (compat 1.1), or null to keep the image's
   */
  public Integer version() {
    return version;
  }

  /**
   * The lazy_refcounts setting to give the image (version 3 only).
   *
   * @return true to turn it on, false to turn it off, null to keep the image's
   */
  public Boolean lazyRefcounts() {
    return lazyRefcounts;
  }

  /**
   * The width of a refcount to rebuild the refcount structures with.
   *
   * @return a power of two from 1 to 64 bits, or null to keep the image's
   */
  public Integer refcountBits() {
    return refcountBits;
  }

  /**
   * Whether the backing file name and format are changed, to {@link #backingFile()} and {@link
   * #backingFormat()}.
   *
   * @return true when {@link Builder#backingFile} was called
   */
  public boolean changesBacking() {
    return changeBacking;
  }

  /**
   * The new backing file name, stored as given (a relative name is relative to the image's folder).
   *
   * @return the name, or null for no backing file (or when {@link #changesBacking()} is false)
   */
  public String backingFile() {
    return backingFile;
  }

  /**
   * The new backing format.
   *
   * @return "qcow2" or "raw", or null to store none (qemu then probes the backing file)
   */
  public String backingFormat() {
    return backingFormat;
  }

  /**
   * The key slot change of a LUKS-encrypted image.
   *
   * @return the change, or null to leave the key slots as they are
   */
  public LuksAmendOptions keySlots() {
    return keySlots;
  }

  /**
   * Whether qemu-img amend's {@code --force} is given: a key slot change may then overwrite an
   * active slot, erase an inactive one, or erase the last active one (the data is then lost).
   *
   * @return true to force
   */
  public boolean force() {
    return force;
  }

  /**
   * Whether anything besides the key slots changes.
   *
   * @return true if the header is to be rewritten
   */
  boolean changesHeader() {
    return version != null || lazyRefcounts != null || refcountBits != null || changeBacking;
  }

  /** A copy of the image's passphrase (qemu's encrypt.key-secret), or null; the caller wipes it. */
  byte[] encryptionKey() {
    return encryptionKey == null ? null : encryptionKey.clone();
  }

  /** Collects the changes of an {@link AmendOptions}; not thread-safe. */
  public static final class Builder {
    private Integer version;
    private Boolean lazyRefcounts;
    private Integer refcountBits;
    private boolean changeBacking;
    private String backingFile;
    private String backingFormat;
    private LuksAmendOptions keySlots;
    private byte[] encryptionKey;
    private boolean force;

    private Builder() {}

    /**
     * Adds or erases key slots of a LUKS-encrypted image, as qemu-img amend's {@code encrypt.*}
     * options; needs {@link #encryptionKey}. Refusals carry qemu's messages.
     *
     * @param change the key slot change, which the options hold (not a copy)
     * @return this builder
     */
    public Builder keySlots(LuksAmendOptions change) {
      this.keySlots = change;
      return this;
    }

    /**
     * The passphrase the image opens with (qemu's encrypt.key-secret): it unlocks the master key
     * that a new key slot stores. A copy is kept; the caller wipes its own.
     *
     * @param passphrase the passphrase's bytes
     * @return this builder
     */
    public Builder encryptionKey(byte[] passphrase) {
      this.encryptionKey = passphrase.clone();
      return this;
    }

    /**
     * qemu-img amend's {@code --force}, which only key slot changes heed.
     *
     * @param on true to overwrite an active slot or erase an inactive or the last active one
     * @return this builder
     */
    public Builder force(boolean on) {
      this.force = on;
      return this;
    }

    /**
     * Converts the image to version {@code v}.
     *
     * @param v 2 (compat 0.10) or 3 (compat 1.1)
     * @return this builder
     * @throws IllegalArgumentException if {@code v} is neither 2 nor 3
     */
    public Builder version(int v) {
      if (v != 2 && v != 3) {
        throw new IllegalArgumentException(
            "version must be 2 (compat 0.10) or 3 (compat 1.1): " + v);
      }
      this.version = v;
      return this;
    }

    /**
     * Turns lazy_refcounts on or off (refcounts then updated only on a clean close or a repair).
     *
     * @param on the new setting
     * @return this builder
     */
    public Builder lazyRefcounts(boolean on) {
      this.lazyRefcounts = on;
      return this;
    }

    /**
     * Rebuilds the refcount structures with refcounts of {@code bits} bits.
     *
     * @param bits 1, 2, 4, 8, 16, 32 or 64
     * @return this builder
     * @throws IllegalArgumentException if {@code bits} is not a power of two up to 64
     */
    public Builder refcountBits(int bits) {
      if (bits < 1 || bits > 64 || Integer.bitCount(bits) != 1) {
        throw new IllegalArgumentException(
            "Refcount width must be a power of two and may not exceed 64 bits");
      }
      this.refcountBits = bits;
      return this;
    }

    /**
     * Renames the backing file, as {@code qemu-img rebase -u} does: no data is copied.
     *
     * @param name the new name, stored as given; null or "" for no backing file
     * @param format "qcow2" or "raw", or null to store no format (ignored without a name)
     * @return this builder
     * @throws IllegalArgumentException if {@code format} is neither null, "qcow2" nor "raw"
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

    /**
     * The options collected so far.
     *
     * @return new immutable options; the builder may be used on
     */
    public AmendOptions build() {
      return new AmendOptions(this);
    }
  }
}
