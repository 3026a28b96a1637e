package dev.qcow2.remote;

import java.time.Duration;
import java.util.Map;
import javax.net.ssl.SSLContext;

/**
 * How remote objects are read: the time limits and retries of each request, and the block cache,
 * read-ahead and parallelism of {@link RemoteStorage}. Immutable; {@link #defaults()} suits a web
 * server or object store on the internet.
 */
public final class RemoteOptions {
  private final Duration connectTimeout;
  private final Duration requestTimeout;
  private final int maxRetries;
  private final Duration retryDelay;
  private final int maxRedirects;
  private final int blockSize;
  private final long cacheSize;
  private final long readAhead;
  private final int parallelRequests;
  private final Map<String, String> environment;
  private final SSLContext sslContext;

  private RemoteOptions(Builder b) {
    this.connectTimeout = b.connectTimeout;
    this.requestTimeout = b.requestTimeout;
    this.maxRetries = b.maxRetries;
    this.retryDelay = b.retryDelay;
    this.maxRedirects = b.maxRedirects;
    this.blockSize = b.blockSize;
    this.cacheSize = b.cacheSize;
    this.readAhead = b.readAhead;
    this.parallelRequests = b.parallelRequests;
    this.environment = Map.copyOf(b.environment);
    this.sslContext = b.sslContext;
  }

  public static RemoteOptions defaults() {
    return builder().build();
  }

  public static Builder builder() {
    return new Builder();
  }

  /** The time allowed to open a connection. */
  public Duration connectTimeout() {
    return connectTimeout;
  }

  /** The time allowed for one request, from sending it to the last byte of its body. */
  public Duration requestTimeout() {
    return requestTimeout;
  }

  /**
   * How many times a request is repeated after a connection failure, a time-out or a 5xx answer.
   */
  public int maxRetries() {
    return maxRetries;
  }

  /** The wait before the first retry; each further retry waits twice as long as the one before. */
  public Duration retryDelay() {
    return retryDelay;
  }

  /** How many redirects one request may follow. */
  public int maxRedirects() {
    return maxRedirects;
  }

  /** The unit of the block cache, and the smallest range requested. */
  public int blockSize() {
    return blockSize;
  }

  /** The most bytes the block cache holds. */
  public long cacheSize() {
    return cacheSize;
  }

  /** How far ahead of a sequential reader blocks are fetched, at most. */
  public long readAhead() {
    return readAhead;
  }

  /** How many read-ahead requests may be in flight at once (callers' own reads come on top). */
  public int parallelRequests() {
    return parallelRequests;
  }

  /** Where the proxy variables (http_proxy, https_proxy, no_proxy) are read from. */
  public Map<String, String> environment() {
    return environment;
  }

  /**
   * The TLS context of https connections (the certificates trusted), or null for the JDK's default.
   */
  public SSLContext sslContext() {
    return sslContext;
  }

  @Override
  public String toString() {
    return "RemoteOptions[connectTimeout="
        + connectTimeout
        + ", requestTimeout="
        + requestTimeout
        + ", maxRetries="
        + maxRetries
        + ", retryDelay="
        + retryDelay
        + ", maxRedirects="
        + maxRedirects
        + ", blockSize="
        + blockSize
        + ", cacheSize="
        + cacheSize
        + ", readAhead="
        + readAhead
        + ", parallelRequests="
        + parallelRequests
        + "]";
  }

  /** Builds {@link RemoteOptions}; every setter checks its value at once. */
  public static final class Builder {
    private Duration connectTimeout = Duration.ofSeconds(10);
    private Duration requestTimeout = Duration.ofSeconds(60);
    private int maxRetries = 5;
    private Duration retryDelay = Duration.ofMillis(250);
    private int maxRedirects = 10;
    // 64 KiB, one default qcow2 cluster: opening an image and mapping it fetches little more
    // than its metadata; sequential readers get large requests from the read-ahead instead.
    private int blockSize = 64 << 10;
    private long cacheSize = 64L << 20;
    private long readAhead = 16L << 20;
    private int parallelRequests = 8;
    private Map<String, String> environment = System.getenv();
    private SSLContext sslContext;

    private Builder() {}

    public Builder connectTimeout(Duration timeout) {
      this.connectTimeout = positive("connectTimeout", timeout);
      return this;
    }

    public Builder requestTimeout(Duration timeout) {
      this.requestTimeout = positive("requestTimeout", timeout);
      return this;
    }

    public Builder maxRetries(int retries) {
      if (retries < 0 || retries > 100) {
        throw new IllegalArgumentException("maxRetries must be between 0 and 100: " + retries);
      }
      this.maxRetries = retries;
      return this;
    }

    public Builder retryDelay(Duration delay) {
      if (delay.isNegative()) {
        throw new IllegalArgumentException("retryDelay must not be negative: " + delay);
      }
      this.retryDelay = delay;
      return this;
    }

    public Builder maxRedirects(int redirects) {
      if (redirects < 0 || redirects > 50) {
        throw new IllegalArgumentException("maxRedirects must be between 0 and 50: " + redirects);
      }
      this.maxRedirects = redirects;
      return this;
    }

    public Builder blockSize(int bytes) {
      if (bytes < 4096 || bytes > (16 << 20) || Integer.bitCount(bytes) != 1) {
        throw new IllegalArgumentException(
            "blockSize must be a power of two from 4 KiB to 16 MiB: " + bytes);
      }
      this.blockSize = bytes;
      return this;
    }

    public Builder cacheSize(long bytes) {
      if (bytes < 0) {
        throw new IllegalArgumentException("cacheSize must not be negative: " + bytes);
      }
      this.cacheSize = bytes;
      return this;
    }

    public Builder readAhead(long bytes) {
      if (bytes < 0) {
        throw new IllegalArgumentException("readAhead must not be negative: " + bytes);
      }
      this.readAhead = bytes;
      return this;
    }

    public Builder parallelRequests(int requests) {
      if (requests < 1 || requests > 256) {
        throw new IllegalArgumentException(
            "parallelRequests must be between 1 and 256: " + requests);
      }
      this.parallelRequests = requests;
      return this;
    }

    public Builder environment(Map<String, String> env) {
      this.environment = Map.copyOf(env);
      return this;
    }

    /**
     * Trusts what {@code context} trusts for https (a private CA, say) instead of the JDK's
     * default.
     */
    public Builder sslContext(SSLContext context) {
      this.sslContext = context;
      return this;
    }

    public RemoteOptions build() {
      return new RemoteOptions(this);
    }

    private static Duration positive(String what, Duration d) {
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(what + " must be positive: " + d);
      }
      return d;
    }
  }
}
