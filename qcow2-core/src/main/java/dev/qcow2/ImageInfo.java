package dev.qcow2;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * What {@code qemu-img info} tells about one image, with its field names. Immutable.
 *
 * @param filename the file name as given
 * @param format "qcow2" or "raw"
 * @param virtualSize the virtual disk size in bytes
 * @param actualSize bytes the file occupies on the host file system
 * @param clusterSize the cluster size (0 for raw)
 * @param backingFilename the backing file name as the image stores it, or null
 * @param fullBackingFilename that name resolved against the image's folder, or null
 * @param backingFormat the backing format from the header extension, or null
 * @param dirty the dirty bit (refcounts may be stale)
 * @param corrupt the corrupt bit
 * @param compat "0.10" (version 2) or "1.1" (version 3); null for raw
 * @param compressionType how compressed clusters are encoded; null for raw
 * @param lazyRefcounts the lazy refcounts compatible bit
 * @param refcountBits the refcount width
 * @param extendedL2 whether L2 entries carry subcluster bitmaps
 * @param dataFile the external data file name, or null
 * @param dataFileRaw whether the external data file is a valid raw image on its own
 * @param snapshots the internal snapshots
 * @param bitmaps the persistent bitmaps
 * @param encryption the LUKS header of an encrypted image (qemu-img info's "encrypt"), or null
 * @param encryptFormat how the image is encrypted, as qemu's encrypt.format names it: "luks", "aes"
 *     (the legacy qcow2 AES-CBC method, read only), or null for an image that is not encrypted
 */
public record ImageInfo(
    String filename,
    String format,
    long virtualSize,
    long actualSize,
    int clusterSize,
    String backingFilename,
    String fullBackingFilename,
    String backingFormat,
    boolean dirty,
    boolean corrupt,
    String compat,
    CompressionType compressionType,
    boolean lazyRefcounts,
    int refcountBits,
    boolean extendedL2,
    String dataFile,
    boolean dataFileRaw,
    List<Snapshot> snapshots,
    List<Bitmap> bitmaps,
    dev.qcow2.crypto.LuksInfo encryption,
    String encryptFormat) {

  /**
   * A report with the given fields.
   *
   * @param filename the file name as given
   * @param format "qcow2" or "raw"
   * @param virtualSize the virtual disk size in bytes
   * @param actualSize bytes the file occupies on the host file system
   * @param clusterSize the cluster size (0 for raw)
   * @param backingFilename the backing file name as the image stores it, or null
   * @param fullBackingFilename that name resolved against the image's folder, or null
   * @param backingFormat the backing format from the header extension, or null
   * @param dirty the dirty bit (refcounts may be stale)
   * @param corrupt the corrupt bit
   * @param compat "0.10" (version 2) or "1.1" (version 3); null for raw
   * @param compressionType how compressed clusters are encoded; null for raw
   * @param lazyRefcounts the lazy refcounts compatible bit
   * @param refcountBits the refcount width
   * @param extendedL2 whether L2 entries carry subcluster bitmaps
   * @param dataFile the external data file name, or null
   * @param dataFileRaw whether the external data file is a valid raw image on its own
   * @param snapshots the internal snapshots
   * @param bitmaps the persistent bitmaps
   * @param encryption the LUKS header of an encrypted image, or null
   * @param encryptFormat "luks", "aes" or null for an image that is not encrypted
   * @throws NullPointerException if {@code snapshots}, {@code bitmaps} or an element is null
   */
  public ImageInfo {
    snapshots = List.copyOf(snapshots);
    bitmaps = List.copyOf(bitmaps);
  }

  /**
   * Whether the image is qcow2, so that the qcow2-only fields mean something.
   *
   * @return true when {@link #format()} is "qcow2"
   */
  public boolean isQcow2() {
    return "qcow2".equals(format);
  }

  /** What {@code info} tells of an open qcow2 image. */
  static ImageInfo of(
      Qcow2Image image, Path path, BackingOpener opener, Storage storage, String dataFileName)
      throws IOException {
    Header header = image.header();
    String backingName = image.backingFileName();
    return new ImageInfo(
        image.filename(),
        "qcow2",
        image.size(),
        // An image on a storage of its own (in memory, say) has no host file to ask.
        storage instanceof MemoryStorage || path == null
            ? storage.size()
            : HostFiles.allocatedBytes(path),
        image.clusterSize(),
        backingName,
        backingName == null
            ? null
            : opener != null
                ? opener.resolve(backingName)
                : BackingFiles.resolve(path, backingName).toString(),
        backingName == null ? null : image.backingFormat(),
        header.isDirty(),
        header.isCorrupt(),
        header.version() == 2 ? "0.10" : "1.1",
        header.compressionType(),
        header.hasLazyRefcounts(),
        header.refcountBits(),
        header.hasExtendedL2(),
        dataFileName,
        (header.autoclearFeatures() & FeatureBits.AUTOCLEAR_DATA_FILE_RAW) != 0,
        image.snapshots(),
        image.bitmaps(),
        image.reader().encryption == null ? null : image.reader().encryption.info(),
        switch (header.cryptMethod()) {
          case ImageEncryption.LEGACY_AES -> "aes";
          case ImageEncryption.LUKS -> "luks";
          default -> null;
        });
  }
}
