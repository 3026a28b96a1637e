package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * An open qcow2 image and its backing chain.
 *
 * <p>Reads are positional and thread-safe: L2 tables come from a bounded {@link L2Cache}, and each
 * reading thread keeps its own decompression buffers and codec. Closing the image closes its
 * storage, its external data file and its backing chain.
 *
 * <p>Writing (images opened with {@link OpenOptions#writable()} or made by {@link #create}): any
 * number of threads may read and write at once. One read-write lock guards the image: reads share
 * it, and each write, zero write, discard or flush holds it alone, so metadata changes never
 * interleave and a read never sees a half-updated table. Writes reach the file at once; metadata
 * reaches it at {@link #flush()} and {@link #close()}, in the crash-safe order that {@link
 * ImageWriter} describes. A writable image holds an exclusive lock on its file, so a second writer,
 * in this process or another, is refused. POSIX locks belong to the process and go when it closes
 * any descriptor of the file, so opens through this library never open one for a file the process
 * writes: readers share the writer's; code that opens the file by other means while it is written
 * drops the lock.
 *
 * <p>Guest offsets are offsets in the virtual disk; host offsets are offsets in the image file (or
 * in the external data file for data clusters).
 */
public final class Qcow2Image implements DiskImage {
  /** The image file, or null for an image opened from a storage with a {@link BackingOpener}. */
  private final Path path;

  private final String filename;

  /** Opens the backing file of an image that is not a local file; null for a local file. */
  private final BackingOpener opener;

  private final Storage storage;
  private final Storage dataStorage;
  private final String dataFileName;

  /** As the file holds it; replaced (never changed) by {@link #updateHeader}. */
  private volatile Header header;

  private final ClusterGeometry g;

  /** The active L1 table; replaced (not changed in size) when a resize grows it. */
  private volatile long[] l1;

  /** Where the active L1 table lies; changes when a resize moves it. */
  private volatile long l1TableOffset;

  /** The virtual size; changes with resize. */
  private volatile long size;

  private final L2Cache l2Cache;
  private final DiskImage backing;
  private volatile List<Snapshot> snapshots;
  private final List<Bitmap> bitmaps;

  /** The file's size as far as validation is concerned; a writer grows it as it allocates. */
  private volatile long fileSize;

  private final ClusterMap clusterMap;
  private final ImageReader reader;
  private final boolean writable;
  private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
  private final FileLock fileLock;

  /** The real path under which this image is registered as open for writing, or null. */
  private Path registered;

  private Refcounts refcounts;
  private ImageWriter writer;

  /** Set by {@link #close}; read without the lock on read-only images. */
  private volatile boolean closed;

  Qcow2Image(
      Path path,
      String filename,
      BackingOpener opener,
      Storage storage,
      Header header,
      long fileSize,
      OpenOptions options,
      BackingFiles.Chain chain,
      FileLock fileLock)
      throws IOException {
    this.fileLock = fileLock;
    this.path = path;
    this.filename = filename;
    this.opener = opener;
    this.storage = storage;
    this.header = header;
    this.fileSize = fileSize;
    this.g = new ClusterGeometry(header.clusterBits(), header.hasExtendedL2());
    this.snapshots = SnapshotTable.read(filename, storage, header, g, fileSize);
    SnapshotTable.View view =
        SnapshotTable.view(filename, storage, g, fileSize, header.size(), snapshots, options);
    this.l1 = view == null ? readL1() : view.l1();
    this.l1TableOffset = view == null ? header.l1TableOffset() : view.snapshot().l1TableOffset();
    this.size = header.size();
    long tables = Math.max(1, g.l1EntriesFor(header.size()));
    this.l2Cache = new L2Cache(options.l2CacheSize(), g.clusterSize, tables, this::loadL2);
    this.bitmaps = BitmapDirectory.read(filename, storage, header, g, fileSize);

    ImageOpener.Neighbours neighbours =
        ImageOpener.openNeighbours(path, filename, opener, header, backingFormat(), options, chain);
    this.dataStorage = neighbours.data() != null ? neighbours.data() : storage;
    this.dataFileName = neighbours.dataName();
    this.backing = neighbours.backing();
    this.clusterMap = new ClusterMap(this, g, l2Cache, dataFileName != null);
    this.reader = ImageReader.open(this, g, clusterMap, options, neighbours);
    this.writable = options.writable();
    if (writable) {
      try {
        prepareForWriting();
      } catch (IOException | RuntimeException e) {
        neighbours.closeAfter(e);
        throw e;
      }
    }
  }

  /**
   * Clears the autoclear bits we do not maintain, as the specification asks of writers that do not
   * know them (the bitmaps they vouch for would go stale), and sets up the writer. The checks and
   * the file lock came first, in {@link ImageOpener}.
   */
  private void prepareForWriting() throws IOException {
    // We keep a raw data file raw; every other autoclear bit (the bitmaps') we would let go stale.
    long keep =
        header.autoclearFeatures()
            & (dataFileName != null ? FeatureBits.AUTOCLEAR_DATA_FILE_RAW : 0);
    if (header.autoclearFeatures() != keep) {
      updateHeader(new HeaderUpdate().autoclearFeatures(keep));
    }
    this.refcounts = new Refcounts(filename, storage, header, g);
    this.writer = new ImageWriter(this, refcounts);
  }

  /** Opens an image read-only with default options. */
  public static Qcow2Image open(Path path) throws IOException {
    return open(path, OpenOptions.defaults());
  }

  public static Qcow2Image open(Path path, OpenOptions options) throws IOException {
    BackingFiles.Chain chain = new BackingFiles.Chain(0);
    chain.seen.add(path.toRealPath());
    return open(path, options, chain);
  }

  static Qcow2Image open(Path path, OpenOptions options, BackingFiles.Chain chain)
      throws IOException {
    return ImageOpener.open(path, options, chain);
  }

  /**
   * Opens an image held by {@code storage}, which the image then owns. Backing and data files named
   * by the image are resolved against {@code path}.
   */
  public static Qcow2Image open(Path path, Storage storage, OpenOptions options)
      throws IOException {
    return ImageOpener.open(
        path, path.toString(), null, storage, options, new BackingFiles.Chain(0));
  }

  /**
   * Opens an image held by {@code storage}, which the image then owns, that is not a local file:
   * {@code name} (a URL, say) names it in messages, and its backing file is opened by {@code
   * backing}, never as a local path. An image that needs an external data file is refused.
   */
  public static Qcow2Image open(
      String name, Storage storage, OpenOptions options, BackingOpener backing) throws IOException {
    return ImageOpener.open(null, name, backing, storage, options, new BackingFiles.Chain(0));
  }

  private long[] readL1() throws IOException {
    return ClusterMap.readTable(storage, header.l1TableOffset(), header.l1Size());
  }

  private long[] loadL2(long hostOffset) throws IOException {
    return ClusterMap.readTable(storage, hostOffset, g.clusterSize / 8);
  }

  // ---------------------------------------------------------------------------------------------
  // Reading

  /**
   * @throws IllegalStateException if the image is closed
   */
  @Override
  public int read(ByteBuffer dst, long offset) throws IOException {
    lockForReading();
    try {
      return reader.read(dst, offset);
    } finally {
      unlockForReading();
    }
  }

  /**
   * The status of the run at {@code offset}; safe while other threads write, like {@link #read}.
   *
   * @throws IllegalStateException if the image is closed
   */
  @Override
  public BlockStatus blockStatus(long offset, long maxLength) throws IOException {
    lockForReading();
    try {
      return reader.blockStatus(offset, maxLength);
    } finally {
      unlockForReading();
    }
  }

  /**
   * Reads and block status look tables up: on a writable image they share its lock, so that they
   * never meet a table (or an L2 entry and its subcluster bitmap) half changed. A closed image
   * refuses them, read-only or not.
   */
  private void lockForReading() {
    if (writable) {
      lock.readLock().lock();
    }
    try {
      checkOpen();
    } catch (RuntimeException e) {
      unlockForReading();
      throw e;
    }
  }

  private void unlockForReading() {
    if (writable) {
      lock.readLock().unlock();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Writing

  /**
   * Creates a new image and opens it for writing. Backing files named by the options are opened for
   * reading as the default {@link OpenOptions} allow.
   *
   * @throws java.nio.file.FileAlreadyExistsException never: an existing file is replaced, as
   *     qemu-img create does
   */
  public static Qcow2Image create(Path path, CreateOptions options) throws IOException {
    return create(path, options, OpenOptions.defaults());
  }

  /**
   * Creates a new image and opens it for writing with {@code openOptions} (made writable): for
   * example {@code openBacking(false)} to create an overlay whose backing file is not there, as
   * {@code qemu-img create -u} does.
   */
  public static Qcow2Image create(Path path, CreateOptions options, OpenOptions openOptions)
      throws IOException {
    return ImageCreator.create(path, options, openOptions);
  }

  /**
   * Writes all of {@code src} at guest offset {@code offset}.
   *
   * @throws IllegalArgumentException if the range is not inside the disk
   * @throws IllegalStateException if the image is read-only or closed
   */
  public void write(ByteBuffer src, long offset) throws IOException {
    checkRange(offset, src.remaining());
    whileWritable(() -> writer.write(src, offset));
  }

  /**
   * Makes [offset, offset + length) read as zeros: the zero flag for whole clusters (version 3),
   * real zeros elsewhere.
   */
  public void writeZeroes(long offset, long length) throws IOException {
    checkRange(offset, length);
    whileWritable(() -> writer.writeZeroes(offset, length));
  }

  /**
   * Discards the whole clusters in [offset, offset + length), as qemu does: they then read as
   * zeros. Partial clusters are unchanged, and so is a version 2 image with a backing file, which
   * has no way to hide the backing data (qemu refuses such discards too).
   */
  public void discard(long offset, long length) throws IOException {
    checkRange(offset, length);
    whileWritable(() -> writer.discard(offset, length));
  }

  /**
   * Stores one whole cluster compressed with the image's compression type (stored plainly if it
   * does not shrink). {@code offset} must be cluster-aligned and {@code cluster} one cluster long,
   * or shorter only for the last cluster of the disk.
   */
  public void writeCompressed(ByteBuffer cluster, long offset) throws IOException {
    checkRange(offset, cluster.remaining());
    ByteBuffer whole = CompressedWrites.wholeCluster(filename, g, size, cluster, offset);
    whileWritable(() -> writer.writeCompressed(whole, offset));
  }

  /**
   * A compressor for this image's compression type and cluster size, for compressing on other
   * threads than the one writing: see {@link #writeCompressed(CompressedCluster, long)}.
   */
  public ClusterCompressor newCompressor() {
    return new ClusterCompressor(header().compressionType(), g.clusterSize);
  }

  /**
   * Stores a cluster compressed by {@link #newCompressor()} (of this image or one with the same
   * compression type and cluster size) at the cluster-aligned guest offset {@code offset}.
   */
  public void writeCompressed(CompressedCluster cluster, long offset) throws IOException {
    checkRange(offset, Math.min(g.clusterSize, size - offset));
    CompressedWrites.checkFits(filename, g, header().compressionType(), cluster, offset);
    whileWritable(() -> writer.writePacked(cluster.bytes(), offset));
  }

  /**
   * Makes every cluster of the image unallocated: the disk then reads as its backing file, or zeros
   * without one. What {@code qemu-img commit} does to the overlay it committed.
   */
  public void makeEmpty() throws IOException {
    whileWritable(
        () -> {
          writer.makeEmpty();
          writer.flush();
        });
  }

  /**
   * Changes the backing file an image names, and nothing else (no data moves: see {@code
   * ImageRebaser} for a rebase that keeps the content). {@code name} is stored as given, so a
   * relative name stays relative to the image's folder; null removes the backing file. The header
   * cluster is rewritten in one write, keeping every other header extension.
   *
   * @param format "qcow2", "raw", or null to name no format
   */
  public static void setBackingFile(Path path, String name, String format) throws IOException {
    ImageAmender.setBackingFile(path, name, format);
  }

  /**
   * Takes an internal snapshot of the disk as it is now, as {@code qemu-img snapshot -c} does: its
   * id is the next free number; names need not be unique (qemu's rule).
   */
  public Snapshot createSnapshot(String name) throws IOException {
    return whileWritable(() -> new InternalSnapshots(this).create(name));
  }

  /**
   * Makes the disk read as it did when the snapshot (found by id, else by name) was taken; what was
   * written since is dropped. The snapshot stays.
   */
  public void applySnapshot(String idOrName) throws IOException {
    whileWritable(() -> new InternalSnapshots(this).apply(idOrName));
  }

  /** Deletes the snapshot found by id, else by name, and frees what only it held. */
  public void deleteSnapshot(String idOrName) throws IOException {
    whileWritable(() -> new InternalSnapshots(this).delete(idOrName));
  }

  /**
   * Changes an image's options as {@code qemu-img amend} does: compat 0.10 and 1.1 (downgrading
   * expands zero clusters, and is refused for what version 2 cannot hold), lazy refcounts, the
   * refcount width (the refcount structures are rebuilt), the backing file name and format.
   */
  public static void amend(Path path, AmendOptions options) throws IOException {
    ImageAmender.amend(path, options);
  }

  /** Makes every write so far durable, metadata included. */
  public void flush() throws IOException {
    whileWritable(() -> writer.flush());
  }

  public boolean isWritable() {
    return writable;
  }

  /** A write-side action on the tables, which may fail with an I/O error. */
  private interface TableChange<T> {
    T run() throws IOException;
  }

  /** A write-side action that returns nothing. */
  private interface TableUpdate {
    void run() throws IOException;
  }

  /** Runs {@code change} under the write lock on an image open for writing. */
  private <T> T whileWritable(TableChange<T> change) throws IOException {
    lock.writeLock().lock();
    try {
      checkWritable();
      return change.run();
    } finally {
      lock.writeLock().unlock();
    }
  }

  private void whileWritable(TableUpdate update) throws IOException {
    whileWritable(
        () -> {
          update.run();
          return null;
        });
  }

  private void checkRange(long offset, long length) {
    long size = this.size;
    if (offset < 0 || length < 0 || offset > size - length) {
      String range = "[" + offset + ", " + offset + " + " + length + ")";
      throw new IllegalArgumentException(
          filename + ": range " + range + " is outside the disk (" + size + " bytes)");
    }
  }

  private void checkWritable() {
    checkOpen();
    if (!writable) {
      throw new IllegalStateException(filename + ": image is read-only");
    }
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException(filename + ": image is closed");
    }
  }

  void growFileSize(long bytes) {
    if (bytes > fileSize) {
      fileSize = bytes;
    }
  }

  Storage storage() {
    return storage;
  }

  /** The image file's size as far as validation is concerned. */
  long fileSize() {
    return fileSize;
  }

  /** The external data file's name as the image stores it, or null. */
  String dataFileName() {
    return dataFileName;
  }

  ClusterMap clusterMap() {
    return clusterMap;
  }

  ImageReader reader() {
    return reader;
  }

  /** This image is registered in the {@link WriterRegistry} as the writer of {@code real}. */
  void registeredAs(Path real) {
    this.registered = real;
  }

  /** Where data clusters live: the external data file, or the image file itself. */
  Storage dataStorage() {
    return dataStorage;
  }

  boolean hasExternalDataFile() {
    return dataFileName != null;
  }

  long[] l1() {
    return l1;
  }

  long l1TableOffset() {
    return l1TableOffset;
  }

  /**
   * Writes changed header fields durably (see {@link HeaderUpdate}) and keeps {@link #header} as
   * the file has it.
   */
  void updateHeader(HeaderUpdate update) throws IOException {
    update.writeTo(storage);
    header = update.applyTo(header);
  }

  /** After the header names a new snapshot table: the list as it now is on disk. */
  void snapshotsChanged() throws IOException {
    snapshots =
        SnapshotTable.read(filename, storage, header, g, Math.max(fileSize, storage.size()));
  }

  ImageWriter writer() {
    return writer;
  }

  ReentrantReadWriteLock lock() {
    return lock;
  }

  /**
   * After a header write switched in a new active L1 table, refcount table and snapshot table
   * ({@link Version2SnapshotCommit}): the tables and refcounts as the file now has them.
   */
  void committed(long[] newL1, long newL1Offset) throws IOException {
    this.l1 = newL1;
    this.l1TableOffset = newL1Offset;
    growFileSize(storage.size());
    l2Cache.clear();
    snapshotsChanged();
    this.refcounts = new Refcounts(filename, storage, header, g);
    this.writer = new ImageWriter(this, refcounts);
  }

  /** After a resize: the new size, and the new L1 table if it moved. */
  void resized(long newSize, long[] newL1, long newL1Offset) {
    this.l1 = newL1;
    this.l1TableOffset = newL1Offset;
    this.size = newSize;
    l2Cache.tablesInImage(Math.max(1, g.l1EntriesFor(newSize)));
  }

  /**
   * Grows the virtual disk to {@code newSize} bytes (a multiple of 512); the new part reads as
   * zeros, or from the backing file where it reaches. The L1 table grows and moves when the disk
   * outgrows it; the switch is one header write after the new table is on disk. Shrinking drops
   * every cluster from the first whole cluster past the new end, as qemu-img resize --shrink.
   */
  public void resize(long newSize) throws IOException {
    // qemu's words (bdrv_co_truncate, qcow2_co_truncate), which qcow2 resize shows as they are.
    if (newSize < 0) {
      throw new IllegalArgumentException("Image size cannot be negative");
    }
    if (newSize % 512 != 0) {
      throw new IllegalArgumentException("The new size must be a multiple of 512");
    }
    whileWritable(
        () -> {
          if (header.version() < 3 && !snapshots.isEmpty()) {
            throw new UnsupportedImageException(
                filename,
                Structure.SNAPSHOT_TABLE,
                header.snapshotsOffset(),
                "is in a version 2 image, whose snapshots do not record the disk size: it cannot be resized");
          }
          if (newSize < size) {
            writer.shrink(newSize);
          } else if (newSize > size) {
            writer.resize(newSize);
          }
        });
  }

  // ---------------------------------------------------------------------------------------------
  // Facts

  @Override
  public String filename() {
    return filename;
  }

  @Override
  public String format() {
    return "qcow2";
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public DiskImage backing() {
    return backing;
  }

  /** The image file, or null for an image opened with a {@link BackingOpener}. */
  public Path path() {
    return path;
  }

  public int clusterSize() {
    return g.clusterSize;
  }

  /** The backing file name exactly as the image stores it, or null. */
  public String backingFileName() {
    String name = header.backingFileName();
    return name == null || name.isEmpty() ? null : name;
  }

  /** The backing format from the header extension, or null if the image does not say. */
  public String backingFormat() {
    HeaderExtension e = header.extension(HeaderExtension.BACKING_FORMAT);
    return e == null ? null : e.text();
  }

  public List<Snapshot> snapshots() {
    return snapshots;
  }

  public List<Bitmap> bitmaps() {
    return bitmaps;
  }

  @Override
  public ImageInfo info() throws IOException {
    return ImageInfo.of(this, path, opener, storage, dataFileName);
  }

  Header header() {
    return header;
  }

  ClusterGeometry geometry() {
    return g;
  }

  L2Cache l2Cache() {
    return l2Cache;
  }

  @Override
  public void close() throws IOException {
    IOException failure = null;
    if (!writable) {
      if (closed) {
        return;
      }
      closed = true;
    } else {
      lock.writeLock().lock();
      try {
        if (closed) {
          return;
        }
        closed = true;
        writer.close();
      } catch (IOException e) {
        failure = e;
      } finally {
        lock.writeLock().unlock();
      }
      try {
        if (fileLock != null) {
          fileLock.release();
        }
      } catch (IOException e) {
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
      if (registered != null) {
        WriterRegistry.closed(registered);
      }
    }
    for (java.io.Closeable c :
        new java.io.Closeable[] {backing, dataStorage == storage ? null : dataStorage, storage}) {
      if (c == null) {
        continue;
      }
      try {
        c.close();
      } catch (IOException e) {
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
    }
    if (failure != null) {
      throw failure;
    }
  }

  @Override
  public String toString() {
    return "Qcow2Image["
        + filename
        + ", v"
        + header.version()
        + ", "
        + size
        + " bytes, cluster "
        + g.clusterSize
        + (backing != null ? ", backing " + backing.filename() : "")
        + "]";
  }
}
