package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.FileSystemException;
import java.nio.file.Path;
import java.util.Arrays;
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
 * ImageWriter} describes. A writable image holds an exclusive lock on its file, so a second
 * writer, in this process or another, is refused. POSIX locks belong to the process and go when
 * it closes any descriptor of the file, so opens through this library never open one for a file
 * the process writes: readers share the writer's; code that opens the file by other means while
 * it is written drops the lock.
 *
 * <p>Guest offsets are offsets in the virtual disk; host offsets are offsets in the image file (or
 * in the external data file for data clusters).
 */
public final class Qcow2Image implements DiskImage {
  // Kinds of a run of guest bytes in this image alone, as qemu's subcluster types.
  static final int UNALLOCATED = 0;
  static final int ZERO_PLAIN = 1;
  static final int ZERO_ALLOC = 2;
  static final int NORMAL = 3;
  static final int COMPRESSED = 4;
  /** An unallocated subcluster of an allocated cluster: host space exists, reads go below. */
  static final int UNALLOCATED_ALLOC = 5;

  private final Path path;
  private final String filename;
  private final Storage storage;
  private final Storage dataStorage;
  private final String dataFileName;
  /** Replaced (never changed) when snapshots are created or deleted. */
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
  private final ThreadLocal<ReadState> readState;
  private final boolean writable;
  private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
  private final FileLock fileLock;
  /** The real path under which this image is registered as open for writing, or null. */
  private Path registered;
  private Refcounts refcounts;
  private ImageWriter writer;
  private boolean closed;

  /** Buffers and a codec for one reading thread. */
  private static final class ReadState {
    final ClusterCodec codec;
    /** Compressed bytes as read from the file; direct, so neither the file nor the codec copies. */
    final ByteBuffer compressed;
    /** The last cluster decompressed for a partial read, kept for the next partial read. */
    final ByteBuffer cluster;
    /** The descriptor whose data {@link #cluster} holds, or 0 for none (0 is never compressed). */
    long cachedDescriptor;

    ReadState(CompressionType type, int clusterSize) {
      this.codec = ClusterCodec.forType(type);
      // A descriptor can name up to 2^(cluster_bits - 8) sectors, i.e. twice the cluster size.
      this.compressed = ByteBuffer.allocateDirect(2 * clusterSize);
      this.cluster = ByteBuffer.allocateDirect(clusterSize);
    }
  }

  private Qcow2Image(
      Path path, Storage storage, Header header, long fileSize, OpenOptions options,
      BackingFiles.Chain chain, FileLock fileLock) throws IOException {
    this.fileLock = fileLock;
    this.path = path;
    this.filename = path.toString();
    this.storage = storage;
    this.header = header;
    this.fileSize = fileSize;
    this.g = new ClusterGeometry(header.clusterBits(), header.hasExtendedL2());
    this.snapshots = SnapshotTable.read(filename, storage, header, g, fileSize);
    Snapshot view = null;
    long[] viewL1 = null;
    List<Snapshot> candidates = options.selectSnapshot(filename, snapshots);
    for (int i = 0; i < candidates.size() && view == null; i++) {
      try {
        viewL1 = snapshotL1(candidates.get(i), options);
        view = candidates.get(i);
      } catch (CorruptImageException e) {
        // As qemu: a snapshot matched by id whose L1 table is misplaced gives way to one by name.
        if (i == candidates.size() - 1) {
          throw e;
        }
      }
    }
    this.l1 = view == null ? readL1() : viewL1;
    this.l1TableOffset = view == null ? header.l1TableOffset() : view.l1TableOffset();
    this.size = header.size();
    long tables = Math.max(1, g.l1EntriesFor(header.size()));
    this.l2Cache = new L2Cache(options.l2CacheSize(), g.clusterSize, tables, this::loadL2);
    this.bitmaps = BitmapDirectory.read(filename, storage, header, g, fileSize);
    CompressionType type = header.compressionType();
    int clusterSize = g.clusterSize;
    this.readState = ThreadLocal.withInitial(() -> new ReadState(type, clusterSize));

    Storage data = null;
    String dataName = null;
    DiskImage back = null;
    try {
      if (header.hasExternalDataFile()) {
        HeaderExtension ext = header.extension(HeaderExtension.EXTERNAL_DATA_FILE);
        if (ext == null) {
          throw new UnsupportedImageException(
              filename, Structure.EXTERNAL_DATA_FILE, 72, "is required but the image does not name it");
        }
        dataName = ext.text();
        data = BackingFiles.openDataFile(path, ext, options, options.writable());
      }
      String name = header.backingFileName();
      if (name != null && !name.isEmpty() && options.openBacking()) {
        back = BackingFiles.openBacking(path, header, name, backingFormat(), options, chain);
      }
    } catch (IOException | RuntimeException e) {
      closeQuietly(data, e);
      closeQuietly(back, e);
      throw e;
    }
    this.dataStorage = data != null ? data : storage;
    this.dataFileName = dataName;
    this.backing = back;
    this.writable = options.writable();
    if (writable) {
      try {
        prepareForWriting();
      } catch (IOException | RuntimeException e) {
        closeQuietly(data, e);
        closeQuietly(back, e);
        throw e;
      }
    }
  }

  /**
   * Clears the autoclear bits we do not maintain, as the specification asks of writers that do not
   * know them (the bitmaps they vouch for would go stale), and sets up the writer. The checks and
   * the file lock came first, in {@link #checkWritable(String, Header)} and {@link #lock}.
   */
  private void prepareForWriting() throws IOException {
    // We keep a raw data file raw; every other autoclear bit (the bitmaps') we would let go stale.
    long keep = header.autoclearFeatures() & (dataFileName != null ? FeatureBits.AUTOCLEAR_DATA_FILE_RAW : 0);
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
    // A process loses its POSIX locks on a file when it closes any descriptor of it, so a second
    // open of a file we write must not even open a descriptor: refuse a second writer up front,
    // and let readers share the writer's.
    Path real = path.toRealPath();
    Storage writers = WRITERS.get(real);
    if (options.writable()) {
      if (WRITERS.putIfAbsent(real, UNCLAIMED) != null) {
        throw new FileSystemException(path.toString(), null, "image is already open for writing in this process");
      }
    } else if (writers != null && writers != UNCLAIMED) {
      return open(path, new SharedStorage(writers), options, chain);
    }
    Storage storage = null;
    try {
      storage = Storage.open(path, options.writable());
      Qcow2Image image = open(path, storage, options, chain);
      if (options.writable()) {
        image.registered = real;
        WRITERS.put(real, storage);
      }
      return image;
    } catch (IOException | RuntimeException e) {
      closeQuietly(storage, e);
      if (options.writable()) {
        WRITERS.remove(real, UNCLAIMED);
      }
      throw e;
    }
  }

  /** The storage of each file this process has open for writing, by real path. */
  private static final java.util.concurrent.ConcurrentHashMap<Path, Storage> WRITERS = new java.util.concurrent.ConcurrentHashMap<>();
  /** Holds a writer's place while it opens. */
  private static final Storage UNCLAIMED = Storage.inMemory("unclaimed", new byte[0]);

  /** Whether this process has {@code real} open for writing (so it is a qcow2 image). */
  static boolean isOpenForWriting(Path real) {
    return WRITERS.containsKey(real);
  }

  /** Refuses writing before anything is touched: a corrupt image. */
  private static void checkWritable(String name, Header header) throws Qcow2Exception {
    if (header.isCorrupt()) {
      throw new CorruptImageException(name, Structure.HEADER, 72,
          "is marked corrupt; repair it (qemu-img check -r all) before writing");
    }
  }

  /** An exclusive lock on the image file, so that no other process writes it while we do. */
  private static FileLock lock(String name, Storage storage) throws IOException {
    if (!(storage instanceof FileStorage fs)) {
      return null;
    }
    FileLock lock;
    try {
      lock = fs.tryLock();
    } catch (OverlappingFileLockException e) {
      lock = null;
    }
    if (lock == null) {
      throw new FileSystemException(name, null, "image is already open for writing");
    }
    return lock;
  }

  /**
   * Opens an image held by {@code storage}, which the image then owns. Backing and data files
   * named by the image are resolved against {@code path}.
   */
  public static Qcow2Image open(Path path, Storage storage, OpenOptions options) throws IOException {
    return open(path, storage, options, new BackingFiles.Chain(0));
  }

  private static Qcow2Image open(
      Path path, Storage storage, OpenOptions options, BackingFiles.Chain chain) throws IOException {
    String name = path.toString();
    long fileSize = storage.size();
    ByteBuffer first = ByteBuffer.allocate((int) Math.min(fileSize, 512));
    storage.read(first, 0);
    first.flip();
    int clusterBits = first.remaining() >= 24 ? first.getInt(20) : 0;
    ByteBuffer cluster0 = first;
    if (clusterBits >= Header.MIN_CLUSTER_BITS && clusterBits <= Header.MAX_CLUSTER_BITS) {
      cluster0 = ByteBuffer.allocate((int) Math.min(fileSize, 1L << clusterBits));
      storage.read(cluster0, 0);
      cluster0.flip();
    }
    Header header = Header.parse(name, cluster0, fileSize, options);
    if (!options.writable()) {
      return new Qcow2Image(path, storage, header, fileSize, options, chain, null);
    }
    checkWritable(name, header);
    FileLock lock = lock(name, storage);
    try {
      if (header.isDirty()) {
        // Refcounts may be stale (lazy refcounts, then a crash): rebuild them before writing, as
        // qemu does when it opens such an image read-write. The rebuild writes, so first let a
        // read-only open validate everything else the open checks (extensions, data file,
        // backing chain): an image refused for any of those must be left as it was.
        BackingFiles.Chain probeChain = new BackingFiles.Chain(chain.depth);
        probeChain.seen.addAll(chain.seen);
        new Qcow2Image(path, new SharedStorage(storage), header, fileSize,
            options.toBuilder().writable(false).build(), probeChain, null).close();
        repairDirty(name, storage, header);
        cluster0.clear();
        storage.read(cluster0, 0);
        cluster0.flip();
        fileSize = storage.size();
        header = Header.parse(name, cluster0, fileSize, options);
      }
      return new Qcow2Image(path, storage, header, fileSize, options, chain, lock);
    } catch (IOException | RuntimeException e) {
      if (lock != null) {
        try {
          lock.release();
        } catch (IOException suppressed) {
          e.addSuppressed(suppressed);
        }
      }
      throw e;
    }
  }

  private static void repairDirty(String name, Storage storage, Header header) throws IOException {
    ClusterGeometry g = new ClusterGeometry(header.clusterBits(), header.hasExtendedL2());
    long[] l1 = readTable(storage, header.l1TableOffset(), header.l1Size());
    List<Snapshot> snapshots = SnapshotTable.read(name, storage, header, g, storage.size());
    ReferenceWalk refs = ReferenceWalk.count(name, storage, header, g, l1, snapshots, null, false, new long[0]);
    Refcounts.rebuild(name, storage, header, g, refs);
    new HeaderUpdate().incompatibleFeatures(header.incompatibleFeatures() & ~FeatureBits.INCOMPAT_DIRTY).writeTo(storage);
  }

  /** Reads {@code entries} big-endian 64-bit table entries at {@code offset} (past the end: zeros). */
  static long[] readTable(Storage storage, long offset, int entries) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(entries * 8);
    storage.readOrZero(b, offset);
    b.flip();
    long[] t = new long[entries];
    b.asLongBuffer().get(t);
    return t;
  }

  private long[] readL1() throws IOException {
    return readTable(storage, header.l1TableOffset(), header.l1Size());
  }

  /**
   * The L1 table of {@code s}, checked as the active one is, and as long as the current size
   * needs: qemu reads a snapshot with the image's current size, and the disk may have grown since
   * (it cannot shrink while it has snapshots), so entries past the snapshot's are unallocated.
   */
  private long[] snapshotL1(Snapshot s, OpenOptions options) throws IOException {
    long at = s.l1TableOffset();
    if (s.l1Size() < 0 || s.l1Size() > options.maxL1Entries()) {
      throw new ImageLimitException(filename, Structure.L1_TABLE, at, "of snapshot '" + s.id() + "' has "
          + Integer.toUnsignedString(s.l1Size()) + " entries, over the limit of " + options.maxL1Entries());
    }
    if (!g.isClusterAligned(at) || at < 0 || at > fileSize || 8L * s.l1Size() > fileSize - at) {
      throw new CorruptImageException(filename, Structure.L1_TABLE, at, "of snapshot '" + s.id() + "' "
          + (g.isClusterAligned(at) ? "lies outside the file" : "is not cluster-aligned"));
    }
    long[] table = readTable(storage, at, s.l1Size());
    long needed = g.l1EntriesFor(header.size());
    return table.length >= needed ? table : java.util.Arrays.copyOf(table, (int) needed);
  }

  private long[] loadL2(long hostOffset) throws IOException {
    return readTable(storage, hostOffset, g.clusterSize / 8);
  }


  long[] l2Table(int l1Index, long l2Offset) throws IOException {
    if (!g.isClusterAligned(l2Offset) || l2Offset > fileSize - g.clusterSize) {
      throw new CorruptImageException(
          filename, Structure.L2_TABLE, l1TableOffset + 8L * l1Index,
          "offset 0x" + Long.toHexString(l2Offset)
              + (g.isClusterAligned(l2Offset) ? " lies outside the file" : " is not cluster-aligned")
              + " (L1 index " + l1Index + ")");
    }
    return l2Cache.get(l2Offset);
  }

  // ---------------------------------------------------------------------------------------------
  // Mapping guest offsets

  /**
   * The kind of one unit (a cluster, or a subcluster with extended L2) and its host offset, packed
   * into one long: host offsets are multiples of 512, so the low bits carry the kind. Returns the
   * kind alone for units that have no host offset.
   */
  private long unit(long entry, long bitmap, int subcluster, int l1Index, int l2Index) throws CorruptImageException {
    if (L2Entry.isCompressed(entry)) {
      if (g.extendedL2 && bitmap != 0) {
        throw corruptL2Entry(l1Index, l2Index, "is compressed but has a non-zero subcluster bitmap");
      }
      return COMPRESSED;
    }
    long offset = L2Entry.hostOffset(entry);
    boolean allocated = offset != 0 || (dataFileName != null && L2Entry.isCopied(entry));
    if (!g.extendedL2) {
      if (L2Entry.hasZeroFlag(entry)) {
        return offset != 0 ? checkedHost(offset, l1Index, l2Index) | ZERO_ALLOC : ZERO_PLAIN;
      }
      return allocated ? checkedHost(offset, l1Index, l2Index) | NORMAL : UNALLOCATED;
    }
    if (allocated) {
      if ((SubclusterBitmap.allocated(bitmap) & SubclusterBitmap.zero(bitmap)) != 0) {
        throw corruptL2Entry(l1Index, l2Index, "has subclusters marked both allocated and zero");
      }
      long host = checkedHost(offset, l1Index, l2Index) + ((long) subcluster << g.subclusterBits);
      if (SubclusterBitmap.isZero(bitmap, subcluster)) {
        return host | ZERO_ALLOC;
      }
      return SubclusterBitmap.isAllocated(bitmap, subcluster) ? host | NORMAL : host | UNALLOCATED_ALLOC;
    }
    if (SubclusterBitmap.allocated(bitmap) != 0) {
      throw corruptL2Entry(l1Index, l2Index, "is unallocated but has allocated subclusters");
    }
    return SubclusterBitmap.isZero(bitmap, subcluster) ? ZERO_PLAIN : UNALLOCATED;
  }

  long checkedHost(long offset, int l1Index, int l2Index) throws CorruptImageException {
    if (!g.isClusterAligned(offset)) {
      throw corruptL2Entry(l1Index, l2Index, "points to 0x" + Long.toHexString(offset) + ", which is not cluster-aligned");
    }
    if (dataFileName == null && offset >= fileSize) {
      throw corruptL2Entry(l1Index, l2Index, "points to 0x" + Long.toHexString(offset) + ", past the end of the file");
    }
    return offset;
  }

  private CorruptImageException corruptL2Entry(int l1Index, int l2Index, String problem) {
    long l2Offset = L1Entry.l2Offset(l1()[l1Index]);
    return new CorruptImageException(
        filename, Structure.L2_TABLE, l2Offset + (long) l2Index * g.l2EntryBytes,
        "entry " + problem + " (L1 index " + l1Index + ", L2 index " + l2Index + ")");
  }

  /**
   * A run of guest bytes of one kind in this image alone.
   *
   * @param kind one of the kind constants
   * @param length bytes in the run
   * @param hostOffset host offset of the run's first byte for NORMAL, ZERO_ALLOC and
   *     UNALLOCATED_ALLOC, else -1
   * @param descriptor the L2 entry for COMPRESSED runs
   */
  record Run(int kind, long length, long hostOffset, long descriptor) {}

  /**
   * Maps the guest bytes at {@code guestOffset}: the longest run, at most {@code maxLength} bytes
   * and within one L2 table, whose units share a kind and, where they have host offsets, lie back
   * to back in the host file. A compressed run never goes past its cluster; an unallocated run
   * spans every following L1 entry that has no L2 table.
   */
  Run lookup(long guestOffset, long maxLength) throws IOException {
    long perTable = g.bytesPerL2Table();
    long limit = Math.min(maxLength, perTable - (guestOffset & (perTable - 1)));
    int l1Index = g.l1Index(guestOffset);
    long[] l1 = this.l1;
    long l2Offset = L1Entry.l2Offset(l1[l1Index]);
    if (l2Offset == 0) {
      // Whole L2 tables missing in a row are one run, so sparse disks map in few steps.
      long length = limit;
      for (int i = l1Index + 1; length < maxLength && i < l1.length && L1Entry.l2Offset(l1[i]) == 0; i++) {
        length = Math.min(maxLength, length + perTable);
      }
      return new Run(UNALLOCATED, length, -1, 0);
    }
    long[] table = l2Table(l1Index, l2Offset);
    int l2Index = g.l2Index(guestOffset);
    int unitBits = g.subclusterBits;
    int unitSize = 1 << unitBits;
    int subcluster = (int) ((guestOffset & (g.clusterSize - 1)) >>> unitBits);
    int inUnit = (int) (guestOffset & (unitSize - 1));

    long first = unitAt(table, l2Index, subcluster, l1Index);
    int kind = (int) (first & 7);
    if (kind == COMPRESSED) {
      long entry = g.extendedL2 ? table[2 * l2Index] : table[l2Index];
      return new Run(COMPRESSED, Math.min(limit, g.clusterSize - g.offsetInCluster(guestOffset)), -1, entry);
    }
    boolean hasHost = kind == NORMAL || kind == ZERO_ALLOC || kind == UNALLOCATED_ALLOC;
    long host = first & ~7L;
    long length = unitSize - inUnit;
    while (length < limit) {
      if (++subcluster == (g.extendedL2 ? ClusterGeometry.SUBCLUSTERS_PER_CLUSTER : 1)) {
        subcluster = 0;
        l2Index++;
      }
      long next = unitAt(table, l2Index, subcluster, l1Index);
      if ((int) (next & 7) != kind || (hasHost && (next & ~7L) != host + inUnit + length)) {
        break;
      }
      length += unitSize;
    }
    return new Run(kind, Math.min(length, limit), hasHost ? host + inUnit : -1, 0);
  }

  private long unitAt(long[] table, int l2Index, int subcluster, int l1Index) throws CorruptImageException {
    if (g.extendedL2) {
      return unit(table[2 * l2Index], table[2 * l2Index + 1], subcluster, l1Index, l2Index);
    }
    return unit(table[l2Index], 0, 0, l1Index, l2Index);
  }

  // ---------------------------------------------------------------------------------------------
  // Reading

  @Override
  public int read(ByteBuffer dst, long offset) throws IOException {
    if (!writable) {
      return readUnlocked(dst, offset);
    }
    lock.readLock().lock();
    try {
      checkOpen();
      return readUnlocked(dst, offset);
    } finally {
      lock.readLock().unlock();
    }
  }

  /** The read path; callers hold the lock on a writable image. */
  int readUnlocked(ByteBuffer dst, long offset) throws IOException {
    if (offset < 0) {
      throw new IllegalArgumentException(filename + ": negative offset " + offset);
    }
    long size = this.size;
    if (offset >= size) {
      return -1;
    }
    int total = (int) Math.min(dst.remaining(), size - offset);
    int done = 0;
    while (done < total) {
      long at = offset + done;
      Run run = lookup(at, total - done);
      int n = (int) run.length();
      ByteBuffer part = dst.slice().limit(n);
      switch (run.kind()) {
        case NORMAL:
          dataStorage.readOrZero(part, run.hostOffset());
          break;
        case COMPRESSED:
          readCompressed(part, run.descriptor(), g.offsetInCluster(at));
          break;
        case UNALLOCATED:
        case UNALLOCATED_ALLOC:
          readBacking(part, at);
          break;
        default:
          fillZeros(part);
          break;
      }
      dst.position(dst.position() + n);
      done += n;
    }
    return total;
  }

  private void readBacking(ByteBuffer part, long at) throws IOException {
    if (backing != null && at < backing.size()) {
      int n = (int) Math.min(part.remaining(), backing.size() - at);
      ByteBuffer head = part.slice().limit(n);
      backing.readFully(head, at);
      part.position(part.position() + n);
    }
    fillZeros(part);
  }

  private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(64 << 10);

  static void fillZeros(ByteBuffer b) {
    if (b.hasArray()) {
      int from = b.arrayOffset() + b.position();
      Arrays.fill(b.array(), from, from + b.remaining(), (byte) 0);
      b.position(b.limit());
      return;
    }
    while (b.hasRemaining()) {
      b.put(ZEROS.duplicate().limit(Math.min(b.remaining(), ZEROS.capacity())));
    }
  }

  private void readCompressed(ByteBuffer part, long descriptor, int offsetInCluster) throws IOException {
    ReadState state = readState.get();
    if (offsetInCluster == 0 && part.remaining() == g.clusterSize) {
      // A whole cluster is wanted: inflate straight into the caller's buffer.
      decompress(descriptor, state, part);
      return;
    }
    if (state.cachedDescriptor != descriptor) {
      state.cachedDescriptor = 0;
      decompress(descriptor, state, state.cluster.clear());
      state.cachedDescriptor = descriptor;
    }
    part.put(state.cluster.duplicate().limit(offsetInCluster + part.remaining()).position(offsetInCluster));
  }

  /** Reads and inflates the compressed cluster that {@code descriptor} names into {@code out}. */
  private void decompress(long descriptor, ReadState state, ByteBuffer out) throws IOException {
    long hostOffset = CompressedDescriptor.hostOffset(descriptor, g.clusterBits);
    int csize = CompressedDescriptor.compressedSize(descriptor, g.clusterBits);
    if (hostOffset > CompressedDescriptor.MAX_HOST_OFFSET || hostOffset >= fileSize) {
      throw new CorruptImageException(
          filename, Structure.COMPRESSED_CLUSTER, hostOffset,
          "descriptor 0x" + Long.toHexString(descriptor) + " points past the end of the file");
    }
    ByteBuffer in = state.compressed.clear().limit(csize);
    // The last sector may run past the end of the file; qemu reads that part as zeros.
    storage.readOrZero(in, hostOffset);
    in.flip();
    if (!state.codec.decompress(in, out)) {
      throw new CorruptImageException(
          filename, Structure.COMPRESSED_CLUSTER, hostOffset,
          "does not " + (header.compressionType() == CompressionType.ZSTD ? "decompress" : "inflate")
              + " to exactly one cluster of " + g.clusterSize + " bytes (" + header.compressionType().qemuName()
              + ", " + csize + " bytes stored)");
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Status through the chain

  @Override
  public BlockStatus blockStatus(long offset, long maxLength) throws IOException {
    long size = this.size;
    if (offset < 0 || offset >= size) {
      throw new IllegalArgumentException(filename + ": offset " + offset + " is outside the disk (" + size + " bytes)");
    }
    Run run = lookup(offset, Math.min(maxLength, size - offset));
    long len = run.length();
    switch (run.kind()) {
      case NORMAL:
        return new BlockStatus(offset, len, 0, true, false, true, false, run.hostOffset(), dataFilename());
      case ZERO_ALLOC:
        return new BlockStatus(offset, len, 0, true, true, false, false, run.hostOffset(), dataFilename());
      case ZERO_PLAIN:
        return new BlockStatus(offset, len, 0, true, true, false, false, -1, filename);
      case COMPRESSED:
        return new BlockStatus(offset, len, 0, true, false, true, true, -1, filename);
      default:
        // Unallocated here. qemu still reports the host offset of an unallocated subcluster of
        // an allocated cluster when nothing lies below it.
        if (backing == null || offset >= backing.size()) {
          // Past the end of a shorter backing file the disk reads zeros; qemu-img map reports
          // that range at depth 0.
          return new BlockStatus(offset, len, 0, false, true, false, false, run.hostOffset(),
              run.hostOffset() >= 0 ? dataFilename() : filename);
        }
        return backing.blockStatus(offset, Math.min(len, backing.size() - offset)).below();
    }
  }

  private String dataFilename() {
    return dataFileName != null ? BackingFiles.resolve(path, dataFileName).toString() : filename;
  }

  // ---------------------------------------------------------------------------------------------
  // Writing

  /**
   * Creates a new image and opens it for writing. Backing files named by the options are opened
   * for reading as the default {@link OpenOptions} allow.
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
  public static Qcow2Image create(Path path, CreateOptions options, OpenOptions openOptions) throws IOException {
    if (java.nio.file.Files.exists(path) && isOpenForWriting(path.toRealPath())) {
      throw new FileSystemException(path.toString(), null, "image is already open for writing in this process");
    }
    if (openOptions.readsSnapshot()) {
      // Refused before anything is written: a new image has no snapshot, and is opened writable.
      throw new IllegalArgumentException(path + ": a new image is opened writable, not at a snapshot");
    }
    ImageCreator.write(path, options);
    Qcow2Image image = open(path, openOptions.toBuilder().writable(true).build());
    CreateOptions.Preallocation prealloc = options.preallocation();
    if (options.dataFileRaw() && prealloc == CreateOptions.Preallocation.OFF) {
      // A raw data file must map every guest cluster to itself, as qemu-img create makes it.
      prealloc = CreateOptions.Preallocation.METADATA;
    }
    if (prealloc != CreateOptions.Preallocation.OFF) {
      try {
        image.writer.preallocate(prealloc);
      } catch (IOException | RuntimeException e) {
        closeQuietly(image, e);
        throw e;
      }
    }
    return image;
  }

  /**
   * Writes all of {@code src} at guest offset {@code offset}.
   *
   * @throws IllegalArgumentException if the range is not inside the disk
   * @throws IllegalStateException if the image is read-only or closed
   */
  public void write(ByteBuffer src, long offset) throws IOException {
    checkRange(offset, src.remaining());
    lock.writeLock().lock();
    try {
      checkWritable();
      writer.write(src, offset);
    } finally {
      lock.writeLock().unlock();
    }
  }

  /**
   * Makes [offset, offset + length) read as zeros: the zero flag for whole clusters (version 3),
   * real zeros elsewhere.
   */
  public void writeZeroes(long offset, long length) throws IOException {
    checkRange(offset, length);
    lock.writeLock().lock();
    try {
      checkWritable();
      writer.writeZeroes(offset, length);
    } finally {
      lock.writeLock().unlock();
    }
  }

  /**
   * Discards the whole clusters in [offset, offset + length), as qemu does: they then read as
   * zeros. Partial clusters are unchanged, and so is a version 2 image with a backing file, which
   * has no way to hide the backing data (qemu refuses such discards too).
   */
  public void discard(long offset, long length) throws IOException {
    checkRange(offset, length);
    lock.writeLock().lock();
    try {
      checkWritable();
      writer.discard(offset, length);
    } finally {
      lock.writeLock().unlock();
    }
  }

  /**
   * Stores one whole cluster compressed with the image's compression type (stored plainly if it
   * does not shrink). {@code offset} must be cluster-aligned and {@code cluster} one cluster long,
   * or shorter only for the last cluster of the disk.
   */
  public void writeCompressed(ByteBuffer cluster, long offset) throws IOException {
    checkRange(offset, cluster.remaining());
    if (!g.isClusterAligned(offset)) {
      throw new IllegalArgumentException(filename + ": compressed writes must start on a cluster boundary: " + offset);
    }
    boolean last = offset + cluster.remaining() == size;
    if (cluster.remaining() != g.clusterSize && !(last && cluster.remaining() < g.clusterSize)) {
      throw new IllegalArgumentException(filename + ": a compressed write is one whole cluster, not " + cluster.remaining() + " bytes");
    }
    ByteBuffer whole = cluster;
    if (cluster.remaining() < g.clusterSize) {
      // The disk's last cluster is padded with zeros before compression, as qemu does.
      whole = ByteBuffer.allocate(g.clusterSize).put(cluster).clear();
    }
    lock.writeLock().lock();
    try {
      checkWritable();
      writer.writeCompressed(whole, offset);
    } finally {
      lock.writeLock().unlock();
    }
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
    if (!g.isClusterAligned(offset)) {
      throw new IllegalArgumentException(filename + ": compressed writes must start on a cluster boundary: " + offset);
    }
    if (cluster.type() != header().compressionType() || cluster.clusterSize() != g.clusterSize) {
      throw new IllegalArgumentException(filename + ": a " + cluster.type() + " cluster of " + cluster.clusterSize()
          + " bytes does not fit an image of " + header().compressionType() + " clusters of " + g.clusterSize);
    }
    lock.writeLock().lock();
    try {
      checkWritable();
      writer.writePacked(cluster.bytes(), offset);
    } finally {
      lock.writeLock().unlock();
    }
  }

  /**
   * Makes every cluster of the image unallocated: the disk then reads as its backing file, or
   * zeros without one. What {@code qemu-img commit} does to the overlay it committed.
   */
  public void makeEmpty() throws IOException {
    lock.writeLock().lock();
    try {
      checkWritable();
      writer.makeEmpty();
      writer.flush();
    } finally {
      lock.writeLock().unlock();
    }
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
    if (name != null && name.isEmpty()) {
      name = null;
    }
    if (format != null && !format.equals("qcow2") && !format.equals("raw")) {
      throw new IllegalArgumentException("backing format must be qcow2 or raw: " + format);
    }
    try (Qcow2Image image = open(path, OpenOptions.builder().writable(true).openBacking(false).build())) {
      image.lock.writeLock().lock();
      try {
        image.checkWritable();
        image.writer.flush();
        Header h = image.header;
        ByteBuffer fields = ByteBuffer.allocate(h.headerLength());
        image.storage.readOrZero(fields, 0);
        java.util.List<HeaderExtension> extensions = new java.util.ArrayList<>();
        if (name != null && format != null) {
          extensions.add(new HeaderExtension(HeaderExtension.BACKING_FORMAT, 0,
              format.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        }
        for (HeaderExtension e : h.extensions()) {
          if (e.type() != HeaderExtension.BACKING_FORMAT) {
            extensions.add(e);
          }
        }
        HeaderUpdate.rewriteCluster(image.storage, path.toString(), image.g.clusterSize, fields.flip(), extensions, name);
      } finally {
        image.lock.writeLock().unlock();
      }
    }
  }

  /**
   * Takes an internal snapshot of the disk as it is now, as {@code qemu-img snapshot -c} does: its
   * id is the next free number; names need not be unique (qemu's rule).
   */
  public Snapshot createSnapshot(String name) throws IOException {
    lock.writeLock().lock();
    try {
      checkWritable();
      return new InternalSnapshots(this).create(name);
    } finally {
      lock.writeLock().unlock();
    }
  }

  /**
   * Makes the disk read as it did when the snapshot (found by id, else by name) was taken; what
   * was written since is dropped. The snapshot stays.
   */
  public void applySnapshot(String idOrName) throws IOException {
    lock.writeLock().lock();
    try {
      checkWritable();
      new InternalSnapshots(this).apply(idOrName);
    } finally {
      lock.writeLock().unlock();
    }
  }

  /** Deletes the snapshot found by id, else by name, and frees what only it held. */
  public void deleteSnapshot(String idOrName) throws IOException {
    lock.writeLock().lock();
    try {
      checkWritable();
      new InternalSnapshots(this).delete(idOrName);
    } finally {
      lock.writeLock().unlock();
    }
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
    lock.writeLock().lock();
    try {
      checkWritable();
      writer.flush();
    } finally {
      lock.writeLock().unlock();
    }
  }

  public boolean isWritable() {
    return writable;
  }

  private void checkRange(long offset, long length) {
    long size = this.size;
    if (offset < 0 || length < 0 || offset > size - length) {
      throw new IllegalArgumentException(
          filename + ": range [" + offset + ", " + offset + " + " + length + ") is outside the disk (" + size + " bytes)");
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

  /** Writes changed header fields durably (see {@link HeaderUpdate}) and keeps {@link #header} as the file has it. */
  void updateHeader(HeaderUpdate update) throws IOException {
    update.writeTo(storage);
    header = update.applyTo(header);
  }

  /** After the header names a new snapshot table: the list as it now is on disk. */
  void snapshotsChanged() throws IOException {
    snapshots = SnapshotTable.read(filename, storage, header, g, Math.max(fileSize, storage.size()));
  }

  ImageWriter writer() {
    return writer;
  }

  java.util.concurrent.locks.ReentrantReadWriteLock lock() {
    return lock;
  }

  void resized(long newSize, long[] newL1, long newL1Offset) {
    this.l1 = newL1;
    this.l1TableOffset = newL1Offset;
    this.size = newSize;
  }

  /**
   * Grows the virtual disk to {@code newSize} bytes (a multiple of 512); the new part reads as
   * zeros, or from the backing file where it reaches. The L1 table grows and moves when the disk
   * outgrows it; the switch is one header write after the new table is on disk. Shrinking drops
   * every cluster from the first whole cluster past the new end, as qemu-img resize --shrink.
   */
  public void resize(long newSize) throws IOException {
    if (newSize % 512 != 0 || newSize < 0) {
      throw new IllegalArgumentException(filename + ": size must be a non-negative multiple of 512: " + newSize);
    }
    lock.writeLock().lock();
    try {
      checkWritable();
      if (header.version() < 3 && !snapshots.isEmpty()) {
        throw new UnsupportedImageException(filename, Structure.SNAPSHOT_TABLE, header.snapshotsOffset(),
            "is in a version 2 image, whose snapshots do not record the disk size: it cannot be resized");
      }
      if (newSize < size) {
        writer.shrink(newSize);
      } else if (newSize > size) {
        writer.resize(newSize);
      }
    } finally {
      lock.writeLock().unlock();
    }
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
    String backingName = backingFileName();
    return new ImageInfo(
        filename,
        "qcow2",
        size,
        // An image on a storage of its own (in memory, say) has no host file to ask.
        storage instanceof MemoryStorage ? storage.size() : HostFiles.allocatedBytes(path),
        g.clusterSize,
        backingName,
        backingName == null ? null : BackingFiles.resolve(path, backingName).toString(),
        backingName == null ? null : backingFormat(),
        header.isDirty(),
        header.isCorrupt(),
        header.version() == 2 ? "0.10" : "1.1",
        header.compressionType(),
        header.hasLazyRefcounts(),
        header.refcountBits(),
        header.hasExtendedL2(),
        dataFileName,
        (header.autoclearFeatures() & FeatureBits.AUTOCLEAR_DATA_FILE_RAW) != 0,
        snapshots,
        bitmaps);
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
    if (writable) {
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
        WRITERS.remove(registered);
      }
    }
    for (java.io.Closeable c : new java.io.Closeable[] {backing, dataStorage == storage ? null : dataStorage, storage}) {
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

  private static void closeQuietly(java.io.Closeable c, Throwable primary) {
    if (c == null) {
      return;
    }
    try {
      c.close();
    } catch (IOException e) {
      primary.addSuppressed(e);
    }
  }

  @Override
  public String toString() {
    return "Qcow2Image[" + filename + ", v" + header.version() + ", " + size + " bytes, cluster "
        + g.clusterSize + (backing != null ? ", backing " + backing.filename() : "") + "]";
  }
}
