package dev.qcow2.nbd;

import dev.qcow2.BlockStatus;
import dev.qcow2.DiskImage;
import dev.qcow2.Qcow2Image;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The one export a server offers: an image, what the options allow on it, and the answers to the
 * questions the handshake asks about it. Thread-safe, as the library's images are.
 */
final class Export {
  /**
   * At most this many status lookups answer one NBD_CMD_BLOCK_STATUS, so that one request is
   * bounded.
   */
  private static final int MAX_LOOKUPS = 1 << 16;

  /** At most this many descriptors per context in one NBD_REPLY_TYPE_BLOCK_STATUS chunk. */
  static final int MAX_EXTENTS = 1 << 12;

  private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(1 << 20);

  private final DiskImage image;

  /** The image written through, or null when the export is read-only. */
  private final Qcow2Image writable;

  private final ServerOptions options;
  private final boolean zeroFlag;

  /** The metadata contexts offered, in the order they are listed, numbered once for all. */
  private final List<MetaContext> contexts;

  private final Map<MetaContext, DirtyBitmapContext> bitmaps = new HashMap<>();

  /**
   * @throws IllegalArgumentException in qemu-nbd's words if a bitmap of the options cannot be
   *     exported
   */
  Export(DiskImage image, ServerOptions options) throws IOException {
    this.image = image;
    this.options = options;
    this.zeroFlag = "1.1".equals(image.info().compat());
    this.writable =
        !options.readOnly() && image instanceof Qcow2Image q && q.isWritable() ? q : null;
    List<MetaContext> offered = new ArrayList<>();
    offered.add(MetaContext.BASE_ALLOCATION);
    if (options.allocationDepth()) {
      offered.add(MetaContext.ALLOCATION_DEPTH);
    }
    // As qemu-nbd numbers them: base:allocation 0, qemu:allocation-depth 1, the bitmaps from 2.
    int id = 2;
    for (String name : options.bitmaps()) {
      MetaContext c = MetaContext.dirtyBitmap(id++, name);
      bitmaps.put(c, DirtyBitmapContext.find(image, name, options.readOnly()));
      offered.add(c);
    }
    this.contexts = List.copyOf(offered);
  }

  String name() {
    return options.exportName();
  }

  String description() {
    return options.description();
  }

  long size() {
    return image.size();
  }

  boolean readOnly() {
    return writable == null;
  }

  /** The metadata contexts a client may list and select, with their ids. */
  List<MetaContext> contexts() {
    return contexts;
  }

  /**
   * The preferred block size of NBD_INFO_BLOCK_SIZE: a cluster, so that clients write whole ones.
   */
  int preferredBlockSize() {
    if (image instanceof Qcow2Image q) {
      return Math.max(4096, Math.min(q.clusterSize(), 2 << 20));
    }
    return 4096;
  }

  /** The transmission flags: only what is true of this export. */
  int transmissionFlags() {
    int flags = Nbd.FLAG_HAS_FLAGS | Nbd.FLAG_SEND_DF | Nbd.FLAG_SEND_CACHE;
    if (readOnly()) {
      flags |= Nbd.FLAG_READ_ONLY;
    } else {
      flags |=
          Nbd.FLAG_SEND_FLUSH
              | Nbd.FLAG_SEND_FUA
              | Nbd.FLAG_SEND_WRITE_ZEROES
              | Nbd.FLAG_SEND_FAST_ZERO;
      if (options.discard()) {
        flags |= Nbd.FLAG_SEND_TRIM;
      }
    }
    // As qemu-nbd: several connections see one another's writes only if they share the image.
    if (options.maxConnections() != 1) {
      flags |= Nbd.FLAG_CAN_MULTI_CONN;
    }
    return flags;
  }

  void read(ByteBuffer dst, long offset) throws IOException {
    image.readFully(dst, offset);
  }

  BlockStatus status(long offset, long length) throws IOException {
    return image.blockStatus(offset, length);
  }

  void write(ByteBuffer src, long offset, boolean fua) throws IOException {
    writable.write(src, offset);
    if (fua) {
      writable.flush();
    }
  }

  /**
   * Makes the range read zeros. With NO_HOLE the zeros are written as data, so the clusters stay
   * allocated, as the flag asks.
   */
  void writeZeroes(long offset, long length, boolean noHole, boolean fua) throws IOException {
    if (noHole) {
      for (long done = 0; done < length; ) {
        int n = (int) Math.min(ZEROS.capacity(), length - done);
        writable.write(ZEROS.duplicate().limit(n), offset + done);
        done += n;
      }
    } else {
      writable.writeZeroes(offset, length);
    }
    if (fua) {
      writable.flush();
    }
  }

  /**
   * Whether a WRITE_ZEROES with NBD_CMD_FLAG_FAST_ZERO can be done without writing the zeros: only
   * version 3 images have the zero flag, and NO_HOLE asks for the zeros to be written.
   */
  boolean fastZero(boolean noHole) {
    return !noHole && zeroFlag;
  }

  void trim(long offset, long length, boolean fua) throws IOException {
    if (options.discard()) {
      writable.discard(offset, length);
    }
    if (fua) {
      writable.flush();
    }
  }

  void flush() throws IOException {
    if (writable != null) {
      writable.flush();
    }
  }

  /**
   * The status descriptors of [offset, offset + length) in each of {@code contexts}: one {@code
   * long[]} of (length, value) pairs per context, at most {@code max} descriptors each. As the spec
   * lets each context's chunk cover its own length, each list may stop short of the end on its own.
   */
  long[][] extents(long offset, long length, List<MetaContext> contexts, int max)
      throws IOException {
    int n = contexts.size();
    Descriptors[] out = new Descriptors[n];
    List<Integer> byStatus = new ArrayList<>();
    for (int c = 0; c < n; c++) {
      out[c] = new Descriptors(max);
      DirtyBitmapContext bitmap = bitmaps.get(contexts.get(c));
      if (bitmap != null) {
        bitmap.extents(offset, length, out[c]);
      } else {
        byStatus.add(c);
      }
    }
    statusExtents(offset, length, contexts, byStatus, out);
    long[][] pairs = new long[n][];
    for (int c = 0; c < n; c++) {
      pairs[c] = out[c].toArray();
    }
    return pairs;
  }

  /** The contexts answered from the image's block status share each lookup. */
  private void statusExtents(
      long offset, long length, List<MetaContext> contexts, List<Integer> which, Descriptors[] out)
      throws IOException {
    int open = which.size();
    long end = offset + length;
    for (int lookups = 0; offset < end && open > 0 && lookups < MAX_LOOKUPS; lookups++) {
      BlockStatus st = image.blockStatus(offset, end - offset);
      for (int c : which) {
        if (!out[c].closed() && !out[c].add(st.length(), contexts.get(c).value(st))) {
          open--;
        }
      }
      offset += st.length();
    }
  }
}
