package dev.qcow2.nbd;

import java.time.Duration;
import java.util.List;
import java.util.Objects;
import javax.net.ssl.SSLContext;

/**
 * How an {@link NbdServer} serves its export: qemu-nbd's options, with its defaults. Immutable;
 * build one with {@link #builder()}.
 */
public final class ServerOptions {
  private final String exportName;
  private final String description;
  private final boolean readOnly;
  private final int maxConnections;
  private final boolean persistent;
  private final Duration handshakeLimit;
  private final long maxBytesInFlight;
  private final int maxOptionLength;
  private final boolean discard;
  private final boolean allocationDepth;
  private final List<String> bitmaps;
  private final int workers;
  private final SSLContext tlsContext;
  private final boolean tlsVerifyPeer;
  private final long slowReadNanos;

  private ServerOptions(Builder b) {
    this.slowReadNanos = b.slowReadNanos;
    this.tlsContext = b.tlsContext;
    this.tlsVerifyPeer = b.tlsVerifyPeer;
    this.exportName = b.exportName;
    this.description = b.description;
    this.readOnly = b.readOnly;
    this.maxConnections = b.maxConnections;
    this.persistent = b.persistent;
    this.handshakeLimit = b.handshakeLimit;
    this.maxBytesInFlight = b.maxBytesInFlight;
    this.maxOptionLength = b.maxOptionLength;
    this.discard = b.discard;
    this.allocationDepth = b.allocationDepth;
    this.bitmaps = b.bitmaps;
    this.workers = b.workers;
  }

  public static ServerOptions defaults() {
    return builder().build();
  }

  public static Builder builder() {
    return new Builder();
  }

  /** The export's name ({@code -x}); "" by default, as qemu-nbd. */
  public String exportName() {
    return exportName;
  }

  /** The export's description ({@code -D}), or null. */
  public String description() {
    return description;
  }

  /**
   * Whether writes are refused ({@code -r}); a plain {@code DiskImage} is always served read-only.
   */
  public boolean readOnly() {
    return readOnly;
  }

  /** How many clients may be connected at once ({@code -e}); 0 for no limit. Default 1. */
  public int maxConnections() {
    return maxConnections;
  }

  /** Whether the server keeps running when the last client leaves ({@code -t}). */
  public boolean persistent() {
    return persistent;
  }

  /** How long a client has to finish its handshake; zero for no limit. Default 10 s. */
  public Duration handshakeLimit() {
    return handshakeLimit;
  }

  /**
   * The bytes one connection may hold in requests being served and replies not yet sent; the
   * connection stops reading requests while it is reached. Default 64 MiB; at least 32 MiB plus one
   * request header, so that the largest request fits.
   */
  public long maxBytesInFlight() {
    return maxBytesInFlight;
  }

  /** The longest option data accepted in the handshake; longer ones get NBD_REP_ERR_TOO_BIG. */
  public int maxOptionLength() {
    return maxOptionLength;
  }

  /** Whether trim requests discard clusters ({@code --discard=unmap}) rather than being ignored. */
  public boolean discard() {
    return discard;
  }

  /** Whether the {@code qemu:allocation-depth} metadata context is offered. */
  public boolean allocationDepth() {
    return allocationDepth;
  }

  /**
   * The persistent dirty bitmaps offered as {@code qemu:dirty-bitmap:NAME} metadata contexts
   * ({@code -B NAME}), in the order the contexts are listed; empty by default.
   */
  public List<String> bitmaps() {
    return bitmaps;
  }

  /** Threads that serve requests, shared by all connections. */
  public int workers() {
    return workers;
  }

  /**
   * The TLS clients must start (NBD_OPT_STARTTLS) before anything else, or null for none; see
   * {@link TlsCredentials}.
   */
  public SSLContext tlsContext() {
    return tlsContext;
  }

  /** Whether TLS clients must present a certificate the context trusts (qemu's verify-peer). */
  public boolean tlsVerifyPeer() {
    return tlsVerifyPeer;
  }

  /**
   * How long a read served by a connection's own thread may take before it counts as slow, as reads
   * from storage rather than memory are; see {@link Connection}. Tests pin it to make that thread
   * serve every small read, or none for long.
   */
  long slowReadNanos() {
    return slowReadNanos;
  }

  @Override
  public String toString() {
    return "ServerOptions[export=\""
        + exportName
        + "\", readOnly="
        + readOnly
        + ", shared="
        + maxConnections
        + ", persistent="
        + persistent
        + ", handshakeLimit="
        + handshakeLimit
        + ", maxBytesInFlight="
        + maxBytesInFlight
        + ", discard="
        + (discard ? "unmap" : "ignore")
        + ", allocationDepth="
        + allocationDepth
        + ", bitmaps="
        + bitmaps
        + ", workers="
        + workers
        + ", tls="
        + (tlsContext == null ? "off" : tlsVerifyPeer ? "verify-peer" : "on")
        + "]";
  }

  /** Builds {@link ServerOptions}; every setter checks its value. */
  public static final class Builder {
    private String exportName = "";
    private String description;
    private boolean readOnly;
    private int maxConnections = 1;
    private boolean persistent;
    private Duration handshakeLimit = Duration.ofSeconds(10);
    private long maxBytesInFlight = 64L << 20;
    private int maxOptionLength = 64 << 10;
    private boolean discard;
    private boolean allocationDepth;
    private List<String> bitmaps = List.of();
    private int workers = Math.max(4, 2 * Runtime.getRuntime().availableProcessors());
    private long slowReadNanos = 50_000;
    private SSLContext tlsContext;
    private boolean tlsVerifyPeer;

    private Builder() {}

    public Builder exportName(String name) {
      Objects.requireNonNull(name, "exportName");
      if (name.length() > Nbd.MAX_STRING || name.indexOf('\0') >= 0) {
        throw new IllegalArgumentException(
            "export name must be at most "
                + Nbd.MAX_STRING
                + " characters without NUL: \""
                + name
                + "\"");
      }
      this.exportName = name;
      return this;
    }

    public Builder description(String text) {
      if (text != null && text.length() > Nbd.MAX_STRING) {
        throw new IllegalArgumentException(
            "description longer than " + Nbd.MAX_STRING + " characters");
      }
      this.description = text;
      return this;
    }

    public Builder readOnly(boolean readOnly) {
      this.readOnly = readOnly;
      return this;
    }

    public Builder maxConnections(int count) {
      if (count < 0) {
        throw new IllegalArgumentException("maxConnections must be 0 (no limit) or more: " + count);
      }
      this.maxConnections = count;
      return this;
    }

    public Builder persistent(boolean persistent) {
      this.persistent = persistent;
      return this;
    }

    public Builder handshakeLimit(Duration limit) {
      if (limit.isNegative()) {
        throw new IllegalArgumentException("handshakeLimit must not be negative: " + limit);
      }
      this.handshakeLimit = limit;
      return this;
    }

    public Builder maxBytesInFlight(long bytes) {
      if (bytes < Nbd.MAX_PAYLOAD + 4096L) {
        throw new IllegalArgumentException(
            "maxBytesInFlight must be at least "
                + (Nbd.MAX_PAYLOAD + 4096L)
                + " (one largest request): "
                + bytes);
      }
      this.maxBytesInFlight = bytes;
      return this;
    }

    public Builder maxOptionLength(int bytes) {
      if (bytes < 2 * Nbd.MAX_STRING + 16) {
        throw new IllegalArgumentException(
            "maxOptionLength must be at least "
                + (2 * Nbd.MAX_STRING + 16)
                + " (an export name and a context name): "
                + bytes);
      }
      this.maxOptionLength = bytes;
      return this;
    }

    public Builder discard(boolean unmap) {
      this.discard = unmap;
      return this;
    }

    public Builder allocationDepth(boolean offer) {
      this.allocationDepth = offer;
      return this;
    }

    /**
     * Offers each persistent dirty bitmap of {@code names} as the metadata context {@code
     * qemu:dirty-bitmap:NAME}: the bitmap of that name in the served image or, as qemu-nbd looks
     * for it, in the nearest image of its backing chain. A name given twice is offered once. {@link
     * NbdServer#start} refuses, in qemu-nbd's words, a bitmap that is missing or inconsistent.
     */
    public Builder bitmaps(List<String> names) {
      // Checked when the server starts; a name found (at most 1023 bytes in qcow2) fits a context
      // name.
      this.bitmaps = names.stream().distinct().toList();
      return this;
    }

    public Builder workers(int threads) {
      if (threads < 1) {
        throw new IllegalArgumentException("workers must be at least 1: " + threads);
      }
      this.workers = threads;
      return this;
    }

    Builder slowReadNanos(long nanos) {
      if (nanos < 0) {
        throw new IllegalArgumentException("slowReadNanos must be at least 0: " + nanos);
      }
      this.slowReadNanos = nanos;
      return this;
    }

    /**
     * Demands TLS with {@code context} (null for none); {@code verifyPeer} demands client
     * certificates.
     */
    public Builder tls(SSLContext context, boolean verifyPeer) {
      this.tlsContext = context;
      this.tlsVerifyPeer = verifyPeer;
      return this;
    }

    public ServerOptions build() {
      return new ServerOptions(this);
    }
  }
}
