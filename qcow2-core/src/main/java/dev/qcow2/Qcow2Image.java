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
 * in this process or another, is refused (see {@link ImageOpener} on how the lock is kept).
 *
 * <p>Reading or writing a closed image, or writing a read-only one, throws an {@link
 * IllegalStateException}; a range outside the disk, an {@link IllegalArgumentException}.
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
  private final DirtyBitmaps bitmaps;

  /** The file's size as far as validation is concerned; a writer grows it as it allocates. */
  private volatile long fileSize;

  private final ClusterMap clusterMap;
  private final ImageReader reader;
  private final boolean writable;
  private final ImageLock lock;
  private final FileLock fileLock;

  /** The real path under which this image is registered as open for writing, or null. */
  private Path registered;

  private Refcounts refcounts;
  private ImageWriter writer;

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
    this.bitmaps = DirtyBitmaps.read(this, fileSize);

    ImageOpener.Neighbours neighbours =
        ImageOpener.openNeighbours(path, filename, opener, header, backingFormat(), options, chain);
    this.dataStorage = neighbours.data() != null ? neighbours.data() : storage;
    this.dataFileName = neighbours.dataName();
    this.backing = neighbours.backing();
    this.clusterMap = new ClusterMap(this, g, l2Cache, dataFileName != null);
    this.reader = ImageReader.open(this, g, clusterMap, options, neighbours);
    this.writable = options.writable();
    this.lock = new ImageLock(filename, writable);
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
   * know them, and sets up the writer. The checks and the file lock came first, in {@link
   * ImageOpener}. We keep the bitmaps ({@link DirtyBitmaps}) and a raw data file raw.
   */
  private void prepareForWriting() throws IOException {
    long known = dataFileName != null ? FeatureBits.AUTOCLEAR_DATA_FILE_RAW : 0;
    long keep = header.autoclearFeatures() & (known | FeatureBits.AUTOCLEAR_BITMAPS);
    if (header.autoclearFeatures() != keep) {
      updateHeader(new HeaderUpdate().autoclearFeatures(keep));
    }
    this.refcounts = new Refcounts(filename, storage, header, g);
    this.writer = new ImageWriter(this, refcounts);
  }

  /**
   * Opens an image read-only with {@link OpenOptions#defaults()}, its backing chain too.
   *
   * @param path the image file
   * @return the open image; close it when done
   * @throws IOException if a file of the chain cannot be read, or is not qcow2 or bad (a {@link
   *     Qcow2Exception})
   */
  public static Qcow2Image open(Path path) throws IOException {
    return open(path, OpenOptions.defaults());
  }

  /**
   * Opens an image as {@code options} say; a writable image takes an exclusive lock on its file.
   *
   * @param path the image file
   * @param options writability, limits, backing and snapshot choices; not null
   * @return the open image; close it when done
   * @throws IOException if a file of the chain cannot be read, is not qcow2 or bad (a {@link
   *     Qcow2Exception}), or is locked by another writer
   */
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
   *
   * @param path where the image would lie, for names and backing files; need not exist
   * @param storage the image's bytes
   * @param options writability, limits, backing and snapshot choices; not null
   * @return the open image; close it when done
   * @throws IOException if the storage cannot be read, or the image is bad
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
   *
   * @param name the image's name in messages
   * @param storage the image's bytes
   * @param options writability, limits and snapshot choices; not null
   * @param backing opens the backing file the image names
   * @return the open image; close it when done
   * @throws IOException if the storage or a backing file cannot be read, or an image is bad
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

  @Override
  public int read(ByteBuffer dst, long offset) throws IOException {
    return lock.whileReading(() -> reader.read(dst, offset));
  }

  @Override
  public BlockStatus blockStatus(long offset, long maxLength) throws IOException {
    return lock.whileReading(() -> reader.blockStatus(offset, maxLength));
  }

  // ---------------------------------------------------------------------------------------------
  // Writing

  /**
   * Creates a new image and opens it for writing. Backing files named by the options are opened for
   * reading as the default {@link OpenOptions} allow. An existing file is replaced, as qemu-img
   * create does.
   *
   * @param path the file to create
   * @param options the image's size and format options
   * @return the new image, open for writing; close it when done
   * @throws IOException if the file cannot be written, or a backing file cannot be opened
   */
  public static Qcow2Image create(Path path, CreateOptions options) throws IOException {
    return create(path, options, OpenOptions.defaults());
  }

  /**
   * Creates a new image and opens it for writing with {@code openOptions} (made writable): for
   * example {@code openBacking(false)} to create an overlay whose backing file is not there, as
   * {@code qemu-img create -u} does.
   *
   * @param path the file to create
   * @param options the image's size and format options
   * @param openOptions how the new image is opened
   * @return the new image, open for writing; close it when done
   * @throws IOException if the file cannot be written, or a backing file cannot be opened
   */
  public static Qcow2Image create(Path path, CreateOptions options, OpenOptions openOptions)
      throws IOException {
    return ImageCreator.create(path, options, openOptions);
  }

  /**
   * Writes all of {@code src} at guest offset {@code offset}.
   *
   * @param src the bytes from its position to its limit; its position advances to the limit
   * @param offset the guest offset in bytes
   * @throws IOException if the file cannot be written, or the image's metadata is bad
   */
  public void write(ByteBuffer src, long offset) throws IOException {
    checkRange(offset, src.remaining());
    lock.whileWritable(() -> writer.write(src, offset));
  }

  /**
   * Makes [offset, offset + length) read as zeros: the zero flag for whole clusters (version 3),
   * real zeros elsewhere.
   *
   * @param offset the guest offset in bytes
   * @param length the bytes to zero
   * @throws IOException if the file cannot be written
   */
  public void writeZeroes(long offset, long length) throws IOException {
    checkRange(offset, length);
    lock.whileWritable(() -> writer.writeZeroes(offset, length));
  }

  /**
   * Discards the whole clusters in [offset, offset + length), as qemu does: they then read as
   * zeros. Partial clusters are unchanged, and so is a version 2 image with a backing file, which
   * has no way to hide the backing data (qemu refuses such discards too).
   *
   * @param offset the guest offset in bytes
   * @param length the bytes to discard
   * @throws IOException if the file cannot be written
   */
  public void discard(long offset, long length) throws IOException {
    checkRange(offset, length);
    lock.whileWritable(() -> writer.discard(offset, length));
  }

  /**
   * Stores one whole cluster compressed with the image's compression type (stored plainly if it
   * does not shrink). {@code offset} must be cluster-aligned and {@code cluster} one cluster long,
   * or shorter only for the last cluster of the disk.
   *
   * @param cluster the guest data from its position to its limit
   * @param offset the cluster-aligned guest offset in bytes
   * @throws IOException if the file cannot be written
   * @throws IllegalArgumentException if the offset is unaligned or the length wrong
   */
  public void writeCompressed(ByteBuffer cluster, long offset) throws IOException {
    checkRange(offset, cluster.remaining());
    ByteBuffer whole = CompressedWrites.wholeCluster(filename, g, size, cluster, offset);
    lock.whileWritable(() -> writer.writeCompressed(whole, offset));
  }

  /**
   * A compressor for this image's compression type and cluster size, for compressing on other
   * threads than the one writing: see {@link #writeCompressed(CompressedCluster, long)}.
   *
   * @return a new compressor, for one thread at a time; close it when done
   */
  public ClusterCompressor newCompressor() {
    return new ClusterCompressor(header().compressionType(), g.clusterSize);
  }

  /**
   * Stores a cluster compressed by {@link #newCompressor()} (of this image or one with the same
   * compression type and cluster size) at the cluster-aligned guest offset {@code offset}.
   *
   * @param cluster the compressed cluster
   * @param offset the cluster-aligned guest offset in bytes
   * @throws IOException if the file cannot be written
   * @throws IllegalArgumentException if the offset is unaligned or the cluster made for another
   *     compression type or cluster size
   */
  public void writeCompressed(CompressedCluster cluster, long offset) throws IOException {
    checkRange(offset, Math.min(g.clusterSize, size - offset));
    CompressedWrites.checkFits(filename, g, header().compressionType(), cluster, offset);
    lock.whileWritable(() -> writer.writePacked(cluster.bytes(), offset));
  }

  /**
   * Makes every cluster of the image unallocated: the disk then reads as its backing file, or zeros
   * without one. What {@code qemu-img commit} does to the overlay it committed.
   *
   * @throws IOException if the file cannot be written
   */
  public void makeEmpty() throws IOException {
    lock.whileWritable(
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
   * @param path the image file, which must not be open for writing
   * @param name the new backing file name, or null for none
   * @param format "qcow2", "raw", or null to name no format
   * @throws IOException if the file cannot be read or written, or the name does not fit
   */
  public static void setBackingFile(Path path, String name, String format) throws IOException {
    ImageAmender.setBackingFile(path, name, format);
  }

  /**
   * Takes an internal snapshot of the disk as it is now, as {@code qemu-img snapshot -c} does: its
   * id is the next free number; names need not be unique (qemu's rule).
   *
   * @param name the snapshot's name
   * @return the snapshot as the table now holds it
   * @throws IOException if the file cannot be written
   */
  public Snapshot createSnapshot(String name) throws IOException {
    return lock.whileWritable(() -> new InternalSnapshots(this).create(name));
  }

  /**
   * Makes the disk read as it did when the snapshot (found by id, else by name) was taken; what was
   * written since is dropped. The snapshot stays.
   *
   * @param idOrName the snapshot's id, or else its name
   * @throws IOException if the file cannot be written, or the snapshot's tables are bad
   * @throws NoSuchSnapshotException if no snapshot matches
   */
  public void applySnapshot(String idOrName) throws IOException {
    bitmaps.checkSnapshotApply();
    lock.whileWritable(() -> new InternalSnapshots(this).apply(idOrName));
  }

  /**
   * Deletes the snapshot found by id, else by name, and frees what only it held.
   *
   * @param idOrName the snapshot's id, or else its name
   * @throws IOException if the file cannot be written, or the snapshot's tables are bad
   * @throws NoSuchSnapshotException if no snapshot matches
   */
  public void deleteSnapshot(String idOrName) throws IOException {
    lock.whileWritable(() -> new InternalSnapshots(this).delete(idOrName));
  }

  /**
   * Changes an image's options as {@code qemu-img amend} does: compat 0.10 and 1.1 (downgrading
   * expands zero clusters, and is refused for what version 2 cannot hold), lazy refcounts, the
   * refcount width (the refcount structures are rebuilt), the backing file name and format.
   *
   * @param path the image file, which must not be open for writing
   * @param options the changes; what they leave unset stays as it is
   * @throws IOException if the file cannot be read or written, or the change is refused (with
   *     qemu-img's message)
   */
  public static void amend(Path path, AmendOptions options) throws IOException {
    ImageAmender.amend(path, options);
  }

  /**
   * Makes every write so far durable, metadata included.
   *
   * @throws IOException if the file cannot be written or synced
   */
  public void flush() throws IOException {
    lock.whileWritable(() -> writer.flush());
  }

  /**
   * Whether the image was opened for writing.
   *
   * @return true for a writable image, even once closed
   */
  public boolean isWritable() {
    return writable;
  }

  private void checkRange(long offset, long length) {
    ImageReader.checkRange(filename, size, offset, length);
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
    return lock.lock();
  }

  /** After a header write switched tables ({@link Version2SnapshotCommit}): the file's state. */
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
   *
   * @param newSize the new virtual size in bytes
   * @throws IOException if the file cannot be written, or a version 2 image has snapshots
   * @throws IllegalArgumentException if {@code newSize} is negative or not a multiple of 512
   */
  public void resize(long newSize) throws IOException {
    // qemu's words (bdrv_co_truncate, qcow2_co_truncate), which qcow2 resize shows as they are.
    if (newSize < 0) {
      throw new IllegalArgumentException("Image size cannot be negative");
    }
    if (newSize % 512 != 0) {
      throw new IllegalArgumentException("The new size must be a multiple of 512");
    }
    lock.whileWritable(
        () -> {
          Resizer.checkResizable(this);
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

  /**
   * The file the image was opened from.
   *
   * @return the image file, or null for an image opened with a {@link BackingOpener}
   */
  public Path path() {
    return path;
  }

  /**
   * The image's cluster size.
   *
   * @return bytes per cluster, a power of two from 512 to 2 MiB
   */
  public int clusterSize() {
    return g.clusterSize;
  }

  /**
   * The backing file the image names.
   *
   * @return the name exactly as the image stores it, or null for none
   */
  public String backingFileName() {
    String name = header.backingFileName();
    return name == null || name.isEmpty() ? null : name;
  }

  /**
   * The backing file's format, as the image names it.
   *
   * @return the format from the header extension, or null if the image does not say
   */
  public String backingFormat() {
    HeaderExtension e = header.extension(HeaderExtension.BACKING_FORMAT);
    return e == null ? null : e.text();
  }

  /**
   * The internal snapshots, as the snapshot table held them when last read.
   *
   * @return the snapshots in table order, unmodifiable
   */
  public List<Snapshot> snapshots() {
    return snapshots;
  }

  /**
   * The persistent dirty bitmaps, with their flags as the file has them now.
   *
   * @return the bitmaps in directory order, unmodifiable
   */
  public List<Bitmap> bitmaps() {
    return bitmaps.list();
  }

  /**
   * The persistent dirty bitmaps: their dirty extents, and changes as qemu-img bitmap makes.
   *
   * @return the bitmaps of this image, kept up to date by its writes
   */
  public DirtyBitmaps dirtyBitmaps() {
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
    Path unregister = registered;
    lock.close(
        () -> writer.close(),
        fileLock,
        // Only once the writer is done with it: its last flush may still encrypt.
        reader.encryption == null ? null : reader.encryption::close,
        unregister == null ? null : () -> WriterRegistry.closed(unregister),
        backing,
        dataStorage == storage ? null : dataStorage,
        storage);
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
