package dev.qcow2.convert;

import dev.qcow2.Bitmap;
import dev.qcow2.BlockStatus;
import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.Qcow2Image;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * How large a new image would be: qemu-img measure's numbers, by qemu's formulas (qcow2_measure,
 * qcow2_calc_prealloc_size, qcow2_refcount_metadata_size).
 */
public final class ImageMeasurer {
  private ImageMeasurer() {}

  /**
   * The file sizes, in bytes.
   *
   * @param required what the image needs for the given content (metadata for a fully allocated disk
   *     is counted, as qemu counts it)
   * @param fullyAllocated what it needs with every cluster allocated
   * @param bitmaps bytes for the source's persistent bitmaps, or -1 when not reported
   */
  public record Measurement(long required, long fullyAllocated, long bitmaps) {}

  /**
   * A raw target: every byte of the disk.
   *
   * @param source the image to convert, or null to measure a new disk of {@code size} bytes
   * @param size the disk size in bytes when there is no source (rounded up to 512-byte sectors)
   * @return the bytes a raw target takes: required and fully allocated alike, no bitmaps
   */
  public static Measurement raw(DiskImage source, long size) {
    long required = source != null ? source.size() : (size + 511) & ~511L;
    return new Measurement(required, required, -1);
  }

  /**
   * A qcow2 target made with {@code options} (its size is taken from {@code source} when there is
   * one, else from the options), by qemu's formulas.
   *
   * @param options how the target would be created: cluster size, refcount width, backing file
   * @param source the image to convert, whose allocated clusters are counted; or null for a new,
   *     empty disk
   * @return the bytes the target takes as the source is, and fully allocated
   * @throws IOException if the source cannot be read
   */
  public static Measurement qcow2(CreateOptions options, DiskImage source) throws IOException {
    int cs = options.clusterSize();
    long size = source != null ? source.size() : options.size();
    long virtual = roundUp(size, cs);
    long required = 0;
    if (source != null) {
      if (options.backingFile() != null) {
        // qemu cannot tell what the backing file shares with the source: it counts everything.
        required = virtual;
      } else {
        required = dataBytes(source, cs);
      }
    }
    CreateOptions.Preallocation p = options.preallocation();
    if (p == CreateOptions.Preallocation.FULL || p == CreateOptions.Preallocation.FALLOC) {
      required = virtual;
    }
    long fully =
        preallocatedSize(
            virtual,
            cs,
            Integer.numberOfTrailingZeros(options.refcountBits()),
            options.extendedL2());
    long bitmaps = -1;
    if (options.version() >= 3 && source instanceof Qcow2Image q) {
      bitmaps = bitmapBytes(q, cs);
    }
    return new Measurement(fully - virtual + required, fully, bitmaps);
  }

  /**
   * qemu's walk: zero runs are skipped; a run holding data counts from its start to the end of its
   * last cluster, plus (qemu's arithmetic, kept) its offset into its first cluster. A raw source
   * reports data everywhere (the JDK cannot see holes), so its clusters count by content.
   */
  private static long dataBytes(DiskImage source, int cs) throws IOException {
    long size = source.size();
    long required = 0;
    long offset = 0;
    ByteBuffer buffer = null;
    while (offset < size) {
      BlockStatus s = source.blockStatus(offset, size - offset);
      long n = s.length();
      if ("raw".equals(source.format()) && source.backing() == null) {
        if (buffer == null) {
          buffer = ByteBuffer.allocate(cs);
        }
        n = Math.min(n, roundUp(offset + 1, cs) - offset);
        buffer.clear().limit((int) n);
        source.readFully(buffer, offset);
        if (!ImageConverter.isZero(buffer, 0, (int) n)) {
          long pnum = roundUp(offset + n, cs) - offset;
          required += offset % cs + pnum;
          n = pnum;
        }
      } else if (s.zero() && !s.data()) {
        // skipped, safe without a backing file
      } else if (s.data() && s.present()) {
        long pnum = roundUp(offset + n, cs) - offset;
        required += offset % cs + pnum;
        n = pnum;
      }
      offset += n;
    }
    return required;
  }

  private static long bitmapBytes(Qcow2Image source, int cs) {
    long bytes = 0;
    long directory = 0;
    for (Bitmap b : source.bitmaps()) {
      long bits = (source.size() + b.granularity() - 1) / b.granularity();
      long bmBytes = (bits + 7) / 8;
      long clusters = (bmBytes + cs - 1) / cs;
      bytes += clusters * cs;
      bytes += roundUp(clusters * 8, cs);
      directory += roundUp(24 + b.name().getBytes(StandardCharsets.UTF_8).length, 8);
    }
    return bytes + roundUp(directory, cs);
  }

  /** qcow2_calc_prealloc_size: header, L2 and L1 tables, refcount metadata, and the data. */
  static long preallocatedSize(long totalSize, int cs, int refcountOrder, boolean extendedL2) {
    long aligned = roundUp(totalSize, cs);
    int l2e = extendedL2 ? 16 : 8;
    long meta = cs;
    long nl2e = roundUp(aligned / cs, cs / l2e);
    meta += nl2e * l2e;
    long nl1e = roundUp(nl2e * l2e / cs, cs / 8);
    meta += nl1e * 8;
    meta += refcountMetadataSize((meta + aligned) / cs, cs, refcountOrder);
    return meta + aligned;
  }

  /**
   * qcow2_refcount_metadata_size without the generous increase: the fixed point of blocks and
   * table.
   */
  static long refcountMetadataSize(long clusters, int cs, int refcountOrder) {
    long perTableCluster = cs / 8;
    long perBlock = (long) cs * 8 / (1L << refcountOrder);
    long table = 0;
    long blocks = 0;
    long n = 0;
    long last;
    do {
      last = n;
      blocks = (clusters + table + blocks + perBlock - 1) / perBlock;
      table = (blocks + perTableCluster - 1) / perTableCluster;
      n = clusters + blocks + table;
    } while (n != last);
    return (blocks + table) * cs;
  }

  private static long roundUp(long v, long unit) {
    return (v + unit - 1) / unit * unit;
  }
}
