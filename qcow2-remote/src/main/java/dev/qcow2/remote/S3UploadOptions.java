package dev.qcow2.remote;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How an {@link S3Upload} cuts its object into parts and how many it keeps in memory. Immutable;
 * made with {@link #builder()}.
 *
 * <p>S3's rules: at most {@value #MAX_PARTS} parts, every part but the last at least 5 MiB, an
 * object at most 5 TiB. The part size is chosen from the expected length when it is known (the
 * smallest whole number of MiB, at least 8 MiB, that fits the object in {@value #MAX_PARTS} parts),
 * else {@value #DEFAULT_PART_MIB} MiB, which lets an object of unknown length grow to about 156
 * GiB; past what fits, the upload fails and is aborted.
 *
 * <p>Memory: the first part (held until {@link S3Upload#finish()} when {@link
 * Builder#holdFirstPart} is set) plus at most {@link #bufferedParts()} other parts, being filled,
 * queued or in flight on {@link #threads()} threads.
 */
public final class S3UploadOptions {
  public static final int MAX_PARTS = 10_000;
  public static final int MIN_PART_SIZE = 5 << 20;

  /** One part is one array; S3 would take up to 5 GiB. */
  public static final int MAX_PART_SIZE = 1 << 30;

  public static final long MAX_OBJECT_SIZE = 5L << 40;
  static final int DEFAULT_PART_MIB = 16;
  static final int SMALLEST_CHOSEN_MIB = 8;

  private final long expectedLength;
  private final int partSize;
  private final int firstPartSize;
  private final int threads;
  private final int bufferedParts;
  private final boolean holdFirstPart;
  private final Map<String, String> metadata;
  private final int maxParts;

  private S3UploadOptions(Builder b, int partSize) {
    this.expectedLength = b.expectedLength;
    this.partSize = partSize;
    this.firstPartSize = Math.max(partSize, b.firstPartSize);
    this.threads = b.threads;
    this.bufferedParts = b.bufferedParts > 0 ? b.bufferedParts : b.threads + 1;
    this.holdFirstPart = b.holdFirstPart;
    this.metadata = Map.copyOf(b.metadata);
    this.maxParts = b.maxParts;
  }

  public static Builder builder() {
    return new Builder();
  }

  public static S3UploadOptions defaults() {
    try {
      return builder().build();
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  /** The length the writer announced, or -1. */
  public long expectedLength() {
    return expectedLength;
  }

  /** The size of every part but the first and the last. */
  public int partSize() {
    return partSize;
  }

  /** The size of part 1: the part size, or more when asked for a larger held head. */
  public int firstPartSize() {
    return firstPartSize;
  }

  public int threads() {
    return threads;
  }

  /** How many parts after the first may sit in memory at once. */
  public int bufferedParts() {
    return bufferedParts;
  }

  /** Whether part 1 is sent last, so that its bytes can be patched until then. */
  public boolean holdFirstPart() {
    return holdFirstPart;
  }

  /** User metadata stored with the object ({@code x-amz-meta-*}). */
  public Map<String, String> metadata() {
    return metadata;
  }

  /** The most parts an upload may have: S3's limit, lower only in tests. */
  int maxParts() {
    return maxParts;
  }

  /** The longest object these options can upload. */
  public long maxLength() {
    return Math.min(MAX_OBJECT_SIZE, firstPartSize + (long) (maxParts - 1) * partSize);
  }

  public static final class Builder {
    private long expectedLength = -1;
    private int partSize;
    private int firstPartSize;
    private int threads = 4;
    private int bufferedParts;
    private boolean holdFirstPart;
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private int maxParts = MAX_PARTS;

    private Builder() {}

    /** The object's length if the writer knows it (or an upper bound), so the part size fits. */
    public Builder expectedLength(long bytes) {
      this.expectedLength = bytes;
      return this;
    }

    /** A part size of its own (5 MiB to 1 GiB) instead of the one chosen from the length. */
    public Builder partSize(int bytes) {
      this.partSize = bytes;
      return this;
    }

    /** A larger first part, for a writer whose held head is larger than a part. */
    public Builder firstPartSize(int bytes) {
      this.firstPartSize = bytes;
      return this;
    }

    public Builder threads(int threads) {
      this.threads = threads;
      return this;
    }

    public Builder bufferedParts(int parts) {
      this.bufferedParts = parts;
      return this;
    }

    public Builder holdFirstPart(boolean hold) {
      this.holdFirstPart = hold;
      return this;
    }

    public Builder metadata(String name, String value) {
      metadata.put(name, value);
      return this;
    }

    /** Fewer parts than S3 allows, so that a test reaches the limit with a few megabytes. */
    Builder maxParts(int parts) {
      this.maxParts = parts;
      return this;
    }

    /** Checks the options against S3's limits and chooses the part size. */
    public S3UploadOptions build() throws IOException {
      if (threads < 1 || threads > 64) {
        throw new IllegalArgumentException("threads must be 1 to 64, not " + threads);
      }
      if (bufferedParts < 0 || firstPartSize < 0) {
        throw new IllegalArgumentException("negative bufferedParts or firstPartSize");
      }
      if (expectedLength > MAX_OBJECT_SIZE) {
        throw new IOException(
            "an object of " + expectedLength + " bytes is larger than S3's limit of 5 TiB");
      }
      int size = partSize > 0 ? partSize : chosenPartSize(expectedLength);
      if (size < MIN_PART_SIZE
          || size > MAX_PART_SIZE
          || (firstPartSize > 0
              && (firstPartSize < MIN_PART_SIZE || firstPartSize > MAX_PART_SIZE))) {
        throw new IllegalArgumentException(
            "parts must be 5 MiB to 1 GiB, not "
                + size
                + (firstPartSize > 0 ? " (first part " + firstPartSize + ")" : ""));
      }
      S3UploadOptions options = new S3UploadOptions(this, size);
      if (expectedLength > options.maxLength()) {
        throw new IOException(
            "an object of "
                + expectedLength
                + " bytes does not fit in "
                + maxParts
                + " parts of "
                + size
                + " bytes");
      }
      return options;
    }

    private static int chosenPartSize(long length) {
      if (length < 0) {
        return DEFAULT_PART_MIB << 20;
      }
      long mib = ((length + MAX_PARTS - 1) / MAX_PARTS + (1 << 20) - 1) >> 20;
      return (int) Math.max(SMALLEST_CHOSEN_MIB, mib) << 20;
    }
  }
}
