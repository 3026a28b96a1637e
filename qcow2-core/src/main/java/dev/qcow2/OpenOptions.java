package dev.qcow2;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * How an image is opened: writable or not, cache sizes, how its backing chain is followed, and the
 * limits that keep memory and time bounded on hostile images. Immutable; build with {@link
 * #builder()}, change a copy with {@link #toBuilder()}.
 *
 * <p>Defaults: read-only; a 32 MiB L2 cache (qemu's default on Linux); backing chains up to 64
 * images deep, in any folder; at most 4 Mi L1 entries (qemu's 32 MiB L1 limit) and 65536 snapshots.
 */
public final class OpenOptions {
  private static final OpenOptions DEFAULTS = builder().build();

  private final boolean writable;
  private final boolean noFlush;
  private final long l2CacheSize;
  private final int maxChainDepth;
  private final long maxL1Entries;
  private final int maxSnapshots;
  private final boolean openBacking;
  private final List<Path> allowedBackingDirectories;
  private final String snapshotId;
  private final String snapshotName;
  private final boolean snapshotEither;
  private final BackingFiles.Opener dataFileOpener;
  private final byte[] encryptionKey;

  private OpenOptions(Builder b) {
    this.writable = b.writable;
    this.l2CacheSize = b.l2CacheSize;
    this.maxChainDepth = b.maxChainDepth;
    this.maxL1Entries = b.maxL1Entries;
    this.maxSnapshots = b.maxSnapshots;
    this.openBacking = b.openBacking;
    this.allowedBackingDirectories = List.copyOf(b.allowedBackingDirectories);
    this.snapshotId = b.snapshotId;
    this.snapshotName = b.snapshotName;
    this.snapshotEither = b.snapshotEither;
    this.dataFileOpener = b.dataFileOpener;
    this.noFlush = b.noFlush;
    this.encryptionKey = b.encryptionKey == null ? null : b.encryptionKey.clone();
  }

  /**
   * The defaults the class comment lists: read-only, backing files followed, qemu's limits.
   *
   * @return the shared default options
   */
  public static OpenOptions defaults() {
    return DEFAULTS;
  }

  /**
   * A builder that starts from the defaults.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * A builder that starts from these options, to derive others; these stay as they are.
   *
   * @return a new builder holding every setting of these options
   */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.writable = writable;
    b.l2CacheSize = l2CacheSize;
    b.maxChainDepth = maxChainDepth;
    b.maxL1Entries = maxL1Entries;
    b.maxSnapshots = maxSnapshots;
    b.openBacking = openBacking;
    b.allowedBackingDirectories = new ArrayList<>(allowedBackingDirectories);
    b.snapshotId = snapshotId;
    b.snapshotName = snapshotName;
    b.snapshotEither = snapshotEither;
    b.dataFileOpener = dataFileOpener;
    b.noFlush = noFlush;
    b.encryptionKey = encryptionKey;
    return b;
  }

  /**
   * Whether flushes of an image opened for writing stop short of the disk (qemu's cache.no-flush,
   * what its cache mode unsafe and qemu-img convert's default output mode do): every write still
   * reaches the file in qemu's order, but a crash of the host, not only of this process, may lose
   * or damage what was written.
   *
   * @return true to skip flushes, false (the default) to make them reach the disk
   */
  public boolean noFlush() {
    return noFlush;
  }

  /**
   * Whether the image is opened for writing (its backing files never are).
   *
   * @return true for read-write, false (the default) for read-only
   */
  public boolean writable() {
    return writable;
  }

  /**
   * A copy of the passphrase of an encrypted image (qemu's encrypt.key-secret), or null; the caller
   * wipes the copy once used.
   */
  byte[] encryptionKey() {
    return encryptionKey == null ? null : encryptionKey.clone();
  }

  /**
   * The memory the L2 table cache may take (qemu's l2-cache-size).
   *
   * @return bytes of L2 tables kept in memory at most; 32 MiB by default
   */
  public long l2CacheSize() {
    return l2CacheSize;
  }

  /**
   * The deepest backing chain accepted; a deeper one raises an {@link ImageLimitException}.
   *
   * @return the largest depth, counting the top image as depth 0; 64 by default
   */
  public int maxChainDepth() {
    return maxChainDepth;
  }

  /**
   * The largest L1 table accepted; a larger one raises an {@link ImageLimitException}, since the
   * table is held in memory (8 bytes an entry).
   *
   * @return the most L1 entries; qemu's limit (4 Mi entries, 32 MiB) by default
   */
  public long maxL1Entries() {
    return maxL1Entries;
  }

  /**
   * The most internal snapshots accepted; more raise an {@link ImageLimitException}.
   *
   * @return the largest snapshot count; 65536 (qemu's) by default
   */
  public int maxSnapshots() {
    return maxSnapshots;
  }

  /**
   * Whether backing files are opened at all.
   *
   * @return true (the default) to open the chain; false to read unallocated clusters as zeros
   */
  public boolean openBacking() {
    return openBacking;
  }

  /**
   * Folders that backing files and external data files must lie in, links resolved; a file
   * elsewhere raises an {@link UnsupportedImageException}.
   *
   * @return the folders, unmodifiable; empty (the default) means anywhere
   */
  public List<Path> allowedBackingDirectories() {
    return allowedBackingDirectories;
  }

  /** How an external data file is opened once resolved and allowed (tests intercept it). */
  BackingFiles.Opener dataFileOpener() {
    return dataFileOpener;
  }

  /**
   * Whether an internal snapshot is read instead of the active layer.
   *
   * @return true when one of the {@code snapshot} setters named one
   */
  public boolean readsSnapshot() {
    return snapshotId != null || snapshotName != null;
  }

  /**
   * The snapshots that may be read among {@code snapshots}, in the order to try them, as qemu finds
   * them (bdrv_snapshot_load_tmp_by_id_or_name: the one with that id, then the one with that name,
   * which is tried when the first's L1 table cannot be loaded); empty when this reads the active
   * layer.
   *
   * @throws NoSuchSnapshotException if none matches
   */
  List<Snapshot> selectSnapshot(String image, List<Snapshot> snapshots) {
    if (!readsSnapshot()) {
      return List.of();
    }
    if (snapshotEither) {
      List<Snapshot> found = SnapshotTable.byIdOrName(snapshots, snapshotId);
      if (found.isEmpty()) {
        throw new NoSuchSnapshotException(image, "'" + snapshotId + "'");
      }
      return found;
    }
    for (Snapshot s : snapshots) {
      if ((snapshotId == null || s.id().equals(snapshotId))
          && (snapshotName == null || s.name().equals(snapshotName))) {
        return List.of(s);
      }
    }
    throw new NoSuchSnapshotException(
        image,
        (snapshotId != null ? "with id '" + snapshotId + "'" : "")
            + (snapshotId != null && snapshotName != null ? " and " : "")
            + (snapshotName != null ? "named '" + snapshotName + "'" : ""));
  }

  /** These options for a backing file: the snapshot is the top image's alone, as in qemu. */
  OpenOptions forBacking() {
    if (!writable && !readsSnapshot()) {
      return this;
    }
    Builder b = toBuilder().writable(false);
    b.snapshotId = null;
    b.snapshotName = null;
    b.snapshotEither = false;
    return b.build();
  }

  @Override
  public String toString() {
    return "OpenOptions[writable="
        + writable
        + ", l2CacheSize="
        + l2CacheSize
        + ", maxChainDepth="
        + maxChainDepth
        + ", maxL1Entries="
        + maxL1Entries
        + ", maxSnapshots="
        + maxSnapshots
        + ", openBacking="
        + openBacking
        + ", allowedBackingDirectories="
        + allowedBackingDirectories
        + (readsSnapshot()
            ? ", snapshot="
                + (snapshotEither ? snapshotId : "id " + snapshotId + " name " + snapshotName)
            : "")
        + "]";
  }

  /** Builds {@link OpenOptions}; each setter rejects a bad value at once. */
  public static final class Builder {
    private boolean writable;
    private boolean noFlush;
    private long l2CacheSize = 32L << 20;
    private int maxChainDepth = 64;
    private long maxL1Entries = QemuLimits.MAX_L1_ENTRIES;
    private int maxSnapshots = 65536;
    private boolean openBacking = true;
    private List<Path> allowedBackingDirectories = new ArrayList<>();
    private String snapshotId;
    private String snapshotName;
    private boolean snapshotEither;
    private BackingFiles.Opener dataFileOpener = Storage::open;
    private byte[] encryptionKey;

    private Builder() {}

    /**
     * Makes flushes stop short of the disk, or not: see {@link OpenOptions#noFlush()}.
     *
     * @param on true to skip flushes
     * @return this builder
     */
    public Builder noFlush(boolean on) {
      this.noFlush = on;
      return this;
    }

    /**
     * The passphrase that unlocks a LUKS-encrypted image (qemu's encrypt.key-secret), as bytes: the
     * options keep a copy, so the caller may wipe its array at once. Each open works on its own
     * copy and wipes it once the key slot is unlocked; backing images get the same passphrase.
     *
     * @param passphrase the passphrase's bytes, or null for none
     * @return this builder
     */
    public Builder encryptionKey(byte[] passphrase) {
      this.encryptionKey = passphrase == null ? null : passphrase.clone();
      return this;
    }

    /**
     * Opens the image read-write or read-only.
     *
     * @param writable true for read-write
     * @return this builder
     */
    public Builder writable(boolean writable) {
      this.writable = writable;
      return this;
    }

    /**
     * Sets the memory the L2 table cache may take.
     *
     * @param bytes the most bytes of L2 tables kept in memory (two tables are kept at least)
     * @return this builder
     * @throws IllegalArgumentException if {@code bytes} is negative
     */
    public Builder l2CacheSize(long bytes) {
      if (bytes < 0) {
        throw new IllegalArgumentException("l2CacheSize must not be negative: " + bytes);
      }
      this.l2CacheSize = bytes;
      return this;
    }

    /**
     * Sets the deepest backing chain accepted.
     *
     * @param depth the largest depth, the top image being depth 0
     * @return this builder
     * @throws IllegalArgumentException if {@code depth} is negative
     */
    public Builder maxChainDepth(int depth) {
      if (depth < 0) {
        throw new IllegalArgumentException("maxChainDepth must not be negative: " + depth);
      }
      this.maxChainDepth = depth;
      return this;
    }

    /**
     * Sets the largest L1 table accepted.
     *
     * @param entries the most L1 entries, at most qemu's limit of 4 Mi
     * @return this builder
     * @throws IllegalArgumentException if {@code entries} is negative or above qemu's limit
     */
    public Builder maxL1Entries(long entries) {
      if (entries < 0 || entries > QemuLimits.MAX_L1_ENTRIES) {
        throw new IllegalArgumentException(
            "maxL1Entries must be 0 to " + QemuLimits.MAX_L1_ENTRIES + ": " + entries);
      }
      this.maxL1Entries = entries;
      return this;
    }

    /**
     * Sets the most internal snapshots accepted.
     *
     * @param count the largest snapshot count
     * @return this builder
     * @throws IllegalArgumentException if {@code count} is negative
     */
    public Builder maxSnapshots(int count) {
      if (count < 0) {
        throw new IllegalArgumentException("maxSnapshots must not be negative: " + count);
      }
      this.maxSnapshots = count;
      return this;
    }

    /**
     * Opens the backing chain, or not (then unallocated clusters read as zeros, as for {@code
     * qemu-img check} and {@code rebase -u}).
     *
     * @param open true to open backing files
     * @return this builder
     */
    public Builder openBacking(boolean open) {
      this.openBacking = open;
      return this;
    }

    /**
     * Backing files and external data files must lie inside one of the folders given (after
     * resolving links); by default they may lie anywhere. Each call adds a folder.
     *
     * @param directory a folder allowed to hold backing and data files
     * @return this builder
     */
    public Builder allowBackingIn(Path directory) {
      this.allowedBackingDirectories.add(directory);
      return this;
    }

    /**
     * Reads the internal snapshot whose id, or else whose name, is {@code idOrName} instead of the
     * active layer (qemu-img convert's {@code -l ID_OR_NAME}); null reads the active layer. The
     * image then opens read-only, with its current virtual size, as qemu reads a snapshot.
     *
     * @param idOrName the snapshot's id or name, or null for the active layer
     * @return this builder
     */
    public Builder snapshot(String idOrName) {
      this.snapshotId = idOrName;
      this.snapshotName = idOrName;
      this.snapshotEither = idOrName != null;
      return this;
    }

    /**
     * Reads the internal snapshot with this id and this name, either of them null for any (qemu-img
     * convert's {@code -l snapshot.id=ID,snapshot.name=NAME}); both null read the active layer.
     *
     * @param id the snapshot's id, or null for any
     * @param name the snapshot's name, or null for any
     * @return this builder
     */
    public Builder snapshot(String id, String name) {
      this.snapshotId = id;
      this.snapshotName = name;
      this.snapshotEither = false;
      return this;
    }

    /**
     * Opens external data files with {@code opener} instead of {@link Storage#open}: the power-cut
     * tests give them a storage that forgets what was not forced.
     */
    Builder dataFileOpener(BackingFiles.Opener opener) {
      this.dataFileOpener = java.util.Objects.requireNonNull(opener, "opener");
      return this;
    }

    /**
     * The options set so far; a snapshot opening missing from the image is found only at open.
     *
     * @return new immutable options; the builder may be used on
     * @throws IllegalArgumentException if a snapshot is to be read writable
     */
    public OpenOptions build() {
      if (writable && (snapshotId != null || snapshotName != null)) {
        throw new IllegalArgumentException("a snapshot is read only: it cannot be opened writable");
      }
      return new OpenOptions(this);
    }
  }
}
