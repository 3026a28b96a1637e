package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The package-private parsers that fuzz targets call directly, without an image around them: the
 * header parser and the cluster codecs. Lives in the fuzz module's test tree, in the library's
 * package, so that the library keeps them package-private.
 */
public final class FuzzAccess {
  private static final ClusterCodec DEFLATE = new DeflateClusterCodec();
  private static final ClusterCodec ZSTD = new ZstdClusterCodec();
  private static final ThreadLocal<ByteBuffer> IN =
      ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(4 << 20));

  private FuzzAccess() {}

  /**
   * Parses {@code file} as the whole image file would be parsed on open: the first cluster (as far
   * as the file holds it) against the file's real size.
   *
   * @return a one-line summary, so the parse cannot be optimised away
   */
  public static String parseHeader(String name, byte[] file, OpenOptions options)
      throws Qcow2Exception {
    int bits = file.length >= 24 ? ByteBuffer.wrap(file).getInt(20) : 0;
    int first =
        bits >= Header.MIN_CLUSTER_BITS && bits <= Header.MAX_CLUSTER_BITS
            ? Math.min(file.length, 1 << bits)
            : Math.min(file.length, 512);
    Header h = Header.parse(name, ByteBuffer.wrap(file, 0, first).slice(), file.length, options);
    return h.version()
        + " "
        + h.clusterBits()
        + " "
        + h.extensions().size()
        + " "
        + h.backingFileName();
  }

  /**
   * Decodes {@code compressed} as one compressed cluster of {@code type} into {@code out}, whose
   * remaining bytes are the cluster size; the input goes to the codec in a direct buffer, as the
   * reader gives it.
   */
  public static boolean decompress(CompressionType type, byte[] compressed, ByteBuffer out) {
    ByteBuffer in = IN.get().clear();
    in.put(compressed, 0, Math.min(compressed.length, in.capacity())).flip();
    return (type == CompressionType.ZSTD ? ZSTD : DEFLATE).decompress(in, out);
  }

  /**
   * The reference walk that check, repair and the dirty-image rebuild start from, strict (the first
   * bad reference throws) over an open image, followed by a refcount lookup for every host cluster
   * the walk saw.
   *
   * @return the highest host cluster referenced
   */
  public static long walkReferences(Qcow2Image image) throws IOException {
    Header h = image.header();
    ClusterGeometry g = image.geometry();
    Refcounts refcounts = new Refcounts(image.filename(), image.storage(), h, g);
    ReferenceWalk walk =
        ReferenceWalk.count(
            image.filename(),
            image.storage(),
            h,
            g,
            image.l1(),
            image.snapshots(),
            null,
            true,
            refcounts.table());
    for (long c = 0; c <= walk.highest(); c++) {
      if (walk.references(c) > 0) {
        refcounts.get(c);
      }
    }
    return walk.highest();
  }
}
