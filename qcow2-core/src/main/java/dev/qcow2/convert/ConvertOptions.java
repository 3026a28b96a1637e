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
  private final OpenOptions targetOpenOptions;

  private ConvertOptions(Builder b) {
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

  public static Builder builder() {
    return new Builder();
  }

  /** How a qcow2 target is opened (its encryption key), or null for the defaults. */
  public OpenOptions targetOpenOptions() {
    return targetOpenOptions;
  }

  /** "raw" or "qcow2". */
  public String targetFormat() {
    return targetFormat;
  }

  /** How a new qcow2 target is made (its size is the source's); null for the defaults. */
  public CreateOptions createOptions() {
    return createOptions;
  }

  public boolean compress() {
    return compress;
  }

  public int threads() {
    return threads;
  }

  public boolean outOfOrder() {
    return outOfOrder;
  }

  /** The backing file name the qcow2 target gets (relative to the target's folder), or null. */
  public String backingFile() {
    return backingFile;
  }

  /** The backing file's format, or null to probe it. */
  public String backingFormat() {
    return backingFormat;
  }

  /** The shortest run of zeros left as a hole (qemu-img's -S); 0 writes every byte. */
  public long minSparse() {
    return minSparse;
  }

  /** Whether the target exists already and is written into, not created (qemu-img's -n). */
  public boolean noCreate() {
    return noCreate;
  }

  public boolean targetIsZero() {
    return targetIsZero;
  }

  /** Called with the guest bytes done so far, from one thread at a time; may be null. */
  public LongConsumer progress() {
    return progress;
  }

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
    private LongConsumer progress;
    private OpenOptions targetOpenOptions;

    private Builder() {}

    /** Opens (and creates) a qcow2 target with these options: an encrypted one's passphrase. */
    public Builder targetOpenOptions(OpenOptions options) {
      this.targetOpenOptions = options;
      return this;
    }

    public Builder targetFormat(String format) {
      if (!"raw".equals(format) && !"qcow2".equals(format)) {
        throw new IllegalArgumentException("target format must be raw or qcow2, not " + format);
      }
      this.targetFormat = format;
      return this;
    }

    public Builder createOptions(CreateOptions options) {
      this.createOptions = options;
      return this;
    }

    /** Store clusters compressed (qcow2 targets), with the create options' compression type. */
    public Builder compress(boolean on) {
      this.compress = on;
      return this;
    }

    public Builder threads(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("threads must be at least 1: " + n);
      }
      this.threads = n;
      return this;
    }

    /** Let clusters land in the target in the order they are ready, not guest order (-W). */
    public Builder outOfOrder(boolean on) {
      this.outOfOrder = on;
      return this;
    }

    /**
     * Give the qcow2 target this backing file and write only the clusters whose content differs
     * from the backing file's (-B).
     */
    public Builder backing(String file, String format) {
      this.backingFile = file;
      this.backingFormat = format;
      return this;
    }

    public Builder minSparse(long bytes) {
      if (bytes < 0 || bytes % 512 != 0) {
        throw new IllegalArgumentException("the sparse size must be a multiple of 512: " + bytes);
      }
      this.minSparse = bytes;
      return this;
    }

    public Builder noCreate(boolean on) {
      this.noCreate = on;
      return this;
    }

    public Builder targetIsZero(boolean on) {
      this.targetIsZero = on;
      return this;
    }

    public Builder progress(LongConsumer progress) {
      this.progress = progress;
      return this;
    }

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
