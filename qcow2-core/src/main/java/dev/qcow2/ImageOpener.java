package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.FileSystemException;
import java.nio.file.Path;
import java.util.List;

/**
 * Opening an image: the header parsed from cluster 0, a second writer refused (in this process
 * through the {@link WriterRegistry}, in others through the file lock), a corrupt image refused for
 * writing, and a dirty one (lazy refcounts, then a crash) repaired before it is written, as qemu
 * does.
 */
final class ImageOpener {
  private ImageOpener() {}

  /** Opens {@code path} as the first image of a chain whose seen files are in {@code chain}. */
  static Qcow2Image open(Path path, OpenOptions options, BackingFiles.Chain chain)
      throws IOException {
    Path real = path.toRealPath();
    if (options.writable()) {
      WriterRegistry.claim(real, path);
    } else {
      Storage writers = WriterRegistry.writerStorage(real);
      if (writers != null) {
        return open(path, path.toString(), null, new SharedStorage(writers), options, chain);
      }
    }
    Storage storage = null;
    try {
      storage = FileStorage.open(path, options.writable(), !options.noFlush());
      Qcow2Image image = open(path, path.toString(), null, storage, options, chain);
      if (options.writable()) {
        image.registeredAs(real);
        WriterRegistry.opened(real, storage);
      }
      return image;
    } catch (IOException | RuntimeException e) {
      closeQuietly(storage, e);
      if (options.writable()) {
        WriterRegistry.abandon(real);
      }
      throw e;
    }
  }

  /** Refuses writing before anything is touched: a corrupt image. */
  private static void checkWritable(String name, Header header) throws Qcow2Exception {
    if (header.isCorrupt()) {
      throw new CorruptImageException(
          name,
          Structure.HEADER,
          72,
          "is marked corrupt; repair it (qemu-img check -r all) before writing");
    }
  }

  /**
   * An exclusive lock on the image file, so that no other process writes it while we do. POSIX
   * locks belong to the process and go when it closes any descriptor of the file, so opens through
   * this library never open one for a file the process writes: readers share the writer's; code
   * that opens the file by other means while it is written drops the lock.
   */
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
   * Opens an image held by {@code storage}, which the image then owns. Backing and data files named
   * by the image are resolved against {@code path}, or, where {@code path} is null (an image that
   * is not a local file, called {@code name}), opened through {@code opener}.
   */
  static Qcow2Image open(
      Path path,
      String name,
      BackingOpener opener,
      Storage storage,
      OpenOptions options,
      BackingFiles.Chain chain)
      throws IOException {
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
      return new Qcow2Image(path, name, opener, storage, header, fileSize, options, chain, null);
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
        new Qcow2Image(
                path,
                name,
                opener,
                new SharedStorage(storage),
                header,
                fileSize,
                options.toBuilder().writable(false).build(),
                probeChain,
                null)
            .close();
        repairDirty(name, storage, header);
        cluster0.clear();
        storage.read(cluster0, 0);
        cluster0.flip();
        fileSize = storage.size();
        header = Header.parse(name, cluster0, fileSize, options);
      }
      return new Qcow2Image(path, name, opener, storage, header, fileSize, options, chain, lock);
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
    long[] l1 = ClusterMap.readTable(storage, header.l1TableOffset(), header.l1Size());
    List<Snapshot> snapshots = SnapshotTable.read(name, storage, header, g, storage.size());
    ReferenceWalk refs =
        ReferenceWalk.count(name, storage, header, g, l1, snapshots, null, false, new long[0]);
    Refcounts.rebuild(name, storage, header, g, refs);
    // A crash inside a snapshot operation (which sets the dirty bit for it) can leave COPIED flags
    // that disagree with the counts just rebuilt; qemu's repair of a dirty image sets them too.
    CopiedFlags.repair(storage, header.l1TableOffset(), l1, g, header.hasExternalDataFile(), refs);
    new HeaderUpdate()
        .incompatibleFeatures(header.incompatibleFeatures() & ~FeatureBits.INCOMPAT_DIRTY)
        .writeTo(storage);
  }

  /** The files an image names beside itself: its external data file and its backing image. */
  record Neighbours(Storage data, String dataName, DiskImage backing) {
    /** Closes both after {@code primary}, which keeps any failure to close as suppressed. */
    void closeAfter(Throwable primary) {
      closeQuietly(data, primary);
      closeQuietly(backing, primary);
    }
  }

  /** Opens the external data file and the backing image that {@code header} names, as asked. */
  static Neighbours openNeighbours(
      Path path,
      String name,
      BackingOpener opener,
      Header header,
      String backingFormat,
      OpenOptions options,
      BackingFiles.Chain chain)
      throws IOException {
    Storage data = null;
    String dataName = null;
    DiskImage back = null;
    try {
      if (header.hasExternalDataFile()) {
        HeaderExtension ext = header.extension(HeaderExtension.EXTERNAL_DATA_FILE);
        if (ext == null) {
          throw new UnsupportedImageException(
              name, Structure.EXTERNAL_DATA_FILE, 72, "is required but the image does not name it");
        }
        dataName = ext.text();
        if (path == null) {
          throw new UnsupportedImageException(
              name,
              Structure.EXTERNAL_DATA_FILE,
              ext.hostOffset(),
              "is not followed for an image that is not a local file");
        }
        data = BackingFiles.openDataFile(path, ext, options, options.writable());
      }
      String backingName = header.backingFileName();
      if (backingName != null && !backingName.isEmpty() && options.openBacking()) {
        if (opener != null) {
          BackingFiles.checkPlainName(
              name, Structure.BACKING_FILE_NAME, header.backingFileOffset(), backingName);
          back = opener.open(backingName, backingFormat, options.forBacking());
        } else {
          back = BackingFiles.openBacking(path, header, backingName, backingFormat, options, chain);
        }
      }
    } catch (IOException | RuntimeException e) {
      new Neighbours(data, dataName, back).closeAfter(e);
      throw e;
    }
    return new Neighbours(data, dataName, back);
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
}
