package dev.qcow2.convert;

import dev.qcow2.CreateOptions;
import dev.qcow2.OpenOptions;
import java.util.function.LongConsumer;

/**
 * How {@link ImageConverter#convert} writes its target: qemu-img convert's options as an immutable
 * value. The defaults are qemu-img's: a raw target, no compression, holes for every 4 KiB of zeros,
 * guest order.
 */
public final class ConvertOptions {
  private final String targetFormat;
  private final CreateOptions createOptions;
  private final boolean compress;
  private final int threads;
  private final boolean outOfOrder;
  private final String backingFile;
  private final String backingFormat;
  private final long minSparse;
  private final boolean noCreate;
  private final boolean targetIsZero;
  private final LongConsumer progress;
  private final boolean noFlush;
  private final OpenOptions targetOpenOptions;

  private ConvertOptions(Builder b) {
    this.noFlush = b.noFlush;
    this.targetOpenOptions = b.targetOpenOptions;
    this.targetFormat = b.targetFormat;
    this.createOptions = b.createOptions;
    this.compress = b.compress;
    this.threads = b.threads;
    this.outOfOrder = b.outOfOrder;
    this.backingFile = b.backingFile;
    this.backingFormat = b.backingFormat;
    this.minSparse = b.minSparse;
    this.noCreate = b.noCreate;
    this.targetIsZero = b.targetIsZero;
    this.progress = b.progress;
  }

  /**
   * A builder that starts from qemu-img's defaults.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * How a qcow2 target is opened and created (an encrypted one's passphrase).
   *
   * @return the options, or null for the defaults
   */
  public OpenOptions targetOpenOptions() {
    return targetOpenOptions;
  }

  /**
   * The target's format (qemu-img's -O).
   *
   * @return "raw" (the default) or "qcow2"
   */
  public String targetFormat() {
    return targetFormat;
  }

  /**
   * How a new qcow2 target is made (its size is the source's, whatever these say).
   *
   * @return the create options, or null for qemu-img's defaults
   */
  public CreateOptions createOptions() {
    return createOptions;
  }

  /**
   * Whether clusters are stored compressed (qemu-img's -c; qcow2 targets only).
   *
   * @return true to compress every cluster that shrinks
   */
  public boolean compress() {
    return compress;
  }

  /**
   * How many threads read, decompress and compress (qemu-img's -m).
   *
   * @return at least 1; the number of processors by default
   */
  public int threads() {
    return threads;
  }

  /**
   * Whether clusters may land in the target in the order they are ready (qemu-img's -W).
   *
   * @return true for any order; false (the default) for guest order
   */
  public boolean outOfOrder() {
    return outOfOrder;
  }

  /**
   * The backing file the qcow2 target names (qemu-img's -B).
   *
   * @return the name, relative to the target's folder if not absolute; or null for none
   */
  public String backingFile() {
    return backingFile;
  }

  /**
   * The backing file's format (qemu-img's -F).
   *
   * @return "qcow2" or "raw", or null to probe it
   */
  public String backingFormat() {
    return backingFormat;
  }

  /**
   * The shortest run of zeros left as a hole (qemu-img's -S).
   *
   * @return bytes, a multiple of 512; 4096 by default, 0 to write every byte
   */
  public long minSparse() {
    return minSparse;
  }

  /**
   * Whether the target exists already and is written into, not created (qemu-img's -n).
   *
   * @return true to write into an existing target
   */
  public boolean noCreate() {
    return noCreate;
  }

  /**
   * Whether an existing target already reads as zeros, so zero runs are skipped (qemu-img's
   * --target-is-zero; with {@link #noCreate()} only).
   *
   * @return true to skip zero runs in an existing target
   */
  public boolean targetIsZero() {
    return targetIsZero;
  }

  /**
   * What hears of progress.
   *
   * @return called with the guest bytes done so far, from one thread at a time; may be null
   */
  public LongConsumer progress() {
    return progress;
  }

  /**
   * Whether a qcow2 target is written without forcing it to the disk ({@link
   * dev.qcow2.OpenOptions#noFlush()}), as qemu-img convert writes by default (its -t unsafe).
   *
   * @return true to skip flushes of the target
   */
  public boolean noFlush() {
    return noFlush;
  }

  /** Collects {@link ConvertOptions}; setters refuse a bad value at once, not thread-safe. */
  public static final class Builder {
    private String targetFormat = "raw";
    private CreateOptions createOptions;
    private boolean compress;
    private int threads = Runtime.getRuntime().availableProcessors();
    private boolean outOfOrder;
    private String backingFile;
    private String backingFormat;
    private long minSparse = 4096;
    private boolean noCreate;
    private boolean targetIsZero;
    private boolean noFlush;
    private LongConsumer progress;
    private OpenOptions targetOpenOptions;

    private Builder() {}

    /**
     * Opens (and creates) a qcow2 target with these options: an encrypted one's passphrase.
     *
     * @param options the target's open options, or null for the defaults
     * @return this builder
     */
    public Builder targetOpenOptions(OpenOptions options) {
      this.targetOpenOptions = options;
      return this;
    }

    /**
     * Sets the target's format.
     *
     * @param format "raw" or "qcow2"
     * @return this builder
     * @throws IllegalArgumentException for any other format
     */
    public Builder targetFormat(String format) {
      if (!"raw".equals(format) && !"qcow2".equals(format)) {
        throw new IllegalArgumentException("target format must be raw or qcow2, not " + format);
      }
      this.targetFormat = format;
      return this;
    }

    /**
     * Sets how a new qcow2 target is made; its size is taken from the source.
     *
     * @param options the create options, or null for qemu-img's defaults
     * @return this builder
     */
    public Builder createOptions(CreateOptions options) {
      this.createOptions = options;
      return this;
    }

    /**
     * Store clusters compressed (qcow2 targets), with the create options' compression type.
     *
     * @param on true to compress
     * @return this builder
     */
    public Builder compress(boolean on) {
      this.compress = on;
      return this;
    }

    /**
     * Sets how many threads read, decompress and compress.
     *
     * @param n the thread count, at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code n} is less than 1
     */
    public Builder threads(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("threads must be at least 1: " + n);
      }
      this.threads = n;
      return this;
    }

    /**
     * Let clusters land in the target in the order they are ready, not guest order (-W).
     *
     * @param on true for any order
     * @return this builder
     */
    public Builder outOfOrder(boolean on) {
      this.outOfOrder = on;
      return this;
    }

    /**
     * Give the qcow2 target this backing file and write only the clusters whose content differs
     * from the backing file's (-B).
     *
     * @param file the backing file name, stored as given; or null for none
     * @param format "qcow2" or "raw", or null to probe it
     * @return this builder
     */
    public Builder backing(String file, String format) {
      this.backingFile = file;
      this.backingFormat = format;
      return this;
    }

    /**
     * Sets the shortest run of zeros left as a hole (qemu-img's -S).
     *
     * @param bytes a multiple of 512; 0 writes every byte
     * @return this builder
     * @throws IllegalArgumentException if {@code bytes} is negative or not a multiple of 512
     */
    public Builder minSparse(long bytes) {
      if (bytes < 0 || bytes % 512 != 0) {
        throw new IllegalArgumentException("the sparse size must be a multiple of 512: " + bytes);
      }
      this.minSparse = bytes;
      return this;
    }

    /**
     * Writes into an existing target instead of creating it (qemu-img's -n).
     *
     * @param on true to write into an existing target
     * @return this builder
     */
    public Builder noCreate(boolean on) {
      this.noCreate = on;
      return this;
    }

    /**
     * Declares that the existing target reads as zeros already (qemu-img's --target-is-zero).
     *
     * @param on true to skip zero runs; needs {@link #noCreate}
     * @return this builder
     */
    public Builder targetIsZero(boolean on) {
      this.targetIsZero = on;
      return this;
    }

    /**
     * Writes a qcow2 target without forcing it to the disk, or not: see {@link
     * ConvertOptions#noFlush()}.
     *
     * @param on true to skip flushes of the target
     * @return this builder
     */
    public Builder noFlush(boolean on) {
      this.noFlush = on;
      return this;
    }

    /**
     * Sets what hears of progress.
     *
     * @param progress called with the guest bytes done so far, from one thread at a time; or null
     * @return this builder
     */
    public Builder progress(LongConsumer progress) {
      this.progress = progress;
      return this;
    }

    /**
     * The options set so far.
     *
     * @return new immutable options; the builder may be used on
     * @throws IllegalArgumentException if a raw target is to be compressed, backed or given create
     *     options, or target-is-zero comes without no-create
     */
    public ConvertOptions build() {
      if ("raw".equals(targetFormat)
          && (compress || backingFile != null || createOptions != null)) {
        throw new IllegalArgumentException(
            "compression, backing files and create options need a qcow2 target");
      }
      if (targetIsZero && !noCreate) {
        throw new IllegalArgumentException(
            "target-is-zero is only for existing targets (no-create)");
      }
      return new ConvertOptions(this);
    }
  }
}
