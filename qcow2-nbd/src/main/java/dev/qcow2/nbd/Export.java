package dev.qcow2.nbd;

import dev.qcow2.BlockStatus;
import dev.qcow2.DiskImage;
import dev.qcow2.Qcow2Image;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

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

  Export(DiskImage image, ServerOptions options) throws IOException {
    this.image = image;
    this.options = options;
    this.zeroFlag = "1.1".equals(image.info().compat());
    this.writable =
        !options.readOnly() && image instanceof Qcow2Image q && q.isWritable() ? q : null;
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

  boolean offers(MetaContext context) {
    return context != MetaContext.ALLOCATION_DEPTH || options.allocationDepth();
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
   * long[]} of (length, value) pairs per context, equal neighbours merged, at most {@code max}
   * descriptors each. They may stop short of the end, as the spec allows.
   */
  long[][] extents(long offset, long length, List<MetaContext> contexts, int max)
      throws IOException {
    int n = contexts.size();
    long[][] out = new long[n][2 * Math.min(max, 64)];
    int[] counts = new int[n];
    boolean[] closed = new boolean[n];
    int open = n;
    long pos = offset;
    long end = offset + length;
    for (int lookups = 0; pos < end && open > 0 && lookups < MAX_LOOKUPS; lookups++) {
      BlockStatus st = image.blockStatus(pos, end - pos);
      for (int c = 0; c < n; c++) {
        if (closed[c]) {
          continue;
        }
        long value = contexts.get(c).value(st);
        int k = counts[c];
        if (k > 0 && out[c][2 * k - 1] == value) {
          out[c][2 * k - 2] += st.length();
        } else if (k == max) {
          closed[c] = true;
          open--;
        } else {
          if (2 * k + 2 > out[c].length) {
            out[c] = java.util.Arrays.copyOf(out[c], out[c].length * 2);
          }
          out[c][2 * k] = st.length();
          out[c][2 * k + 1] = value;
          counts[c] = k + 1;
        }
      }
      pos += st.length();
    }
    for (int c = 0; c < n; c++) {
      out[c] = java.util.Arrays.copyOf(out[c], 2 * counts[c]);
    }
    return out;
  }
}
