package dev.qcow2.convert;

import dev.qcow2.ClusterCompressor;
import dev.qcow2.CompressedCluster;
import dev.qcow2.CreateOptions;
import dev.qcow2.Qcow2Image;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.file.Path;

/**
 * A raw disk read once, front to back, from a channel that cannot seek (standard input, a pipe):
 * its size is what was read. Zero runs still become holes in a raw file or unallocated clusters
 * in a qcow2 image, since both targets can seek; a stream target takes raw bytes only (a qcow2
 * image's layout cannot be planned from a source read once). One thread: the reads come in order.
 */
final class RawStreamSource {
  /** Read unit: a whole number of clusters of any size qcow2 allows (up to 2 MiB). */
  private static final int BLOCK = 2 << 20;
  /** A new qcow2 target starts this large and doubles when the source outgrows it. */
  private static final long FIRST_SIZE = 1L << 30;

  private final ReadableByteChannel in;
  private final ByteBuffer buffer = ByteBuffer.allocateDirect(BLOCK);

  RawStreamSource(ReadableByteChannel in) {
    this.in = in;
  }

  /** Reads the next block: up to {@link #BLOCK} bytes, fewer only at the end; 0 at the end. */
  private int next() throws IOException {
    buffer.clear();
    while (buffer.hasRemaining()) {
      if (in.read(buffer) < 0) {
        break;
      }
    }
    buffer.flip();
    return buffer.remaining();
  }

  /** Copies the disk to {@code out}, zeros and all. Returns its size. */
  long toStream(ImageStream out) throws IOException {
    long size = 0;
    int n;
    while ((n = next()) > 0) {
      out.write(buffer);
      size += n;
    }
    out.finish();
    return size;
  }

  /** Writes the disk as a sparse raw file. Returns its size. */
  long toRaw(Path target, ConvertOptions o) throws IOException {
    int zeroBlock = (int) Math.min(RawTarget.CHUNK_SIZE, o.minSparse());
    long size = 0;
    try (RandomAccessFile file = new RandomAccessFile(target.toFile(), "rw")) {
      file.setLength(0);
      FileChannel out = file.getChannel();
      int n;
      while ((n = next()) > 0) {
        RawTarget.writeSparse(out, buffer, n, size, zeroBlock);
        size += n;
        progress(o, size);
      }
      // The holes at the end are part of the disk too.
      file.setLength(size);
    }
    return size;
  }

  /**
   * Writes the disk into a new qcow2 image made with the options' create options. The image grows
   * (doubling, so that its L1 table moves rarely) as the source goes on, and is cut to the size
   * read at the end. Returns the disk's size.
   */
  long toQcow2(Path target, ConvertOptions o) throws IOException {
    CreateOptions co = (o.createOptions() != null ? o.createOptions().toBuilder() : CreateOptions.builder(0))
        .size(FIRST_SIZE).build();
    long size = 0;
    try (Qcow2Image out = Qcow2Image.create(target, co);
        ClusterCompressor compressor = o.compress() ? out.newCompressor() : null) {
      ByteBuffer padded = ByteBuffer.allocateDirect(out.clusterSize());
      int n;
      while ((n = next()) > 0) {
        long end = size + n;
        if (end > out.size()) {
          out.resize(Math.max(2 * out.size(), (end + 511) & ~511L));
        }
        storeBlock(out, n, size, o.minSparse() != 0, compressor, padded);
        size = end;
        progress(o, size);
      }
      out.resize((size + 511) & ~511L);
      out.flush();
    }
    return size;
  }

  /**
   * Stores the block read, at guest offset {@code start}: zero clusters left out (unless every
   * byte is written), runs of plain clusters in one write, clusters that shrink compressed.
   */
  private void storeBlock(Qcow2Image out, int n, long start, boolean sparse, ClusterCompressor compressor,
      ByteBuffer padded) throws IOException {
    int cs = out.clusterSize();
    int from = 0;
    while (from < n) {
      int to = Math.min(n, from + cs);
      if (sparse && Zeros.isZero(buffer, from, to)) {
        from = to;
        continue;
      }
      CompressedCluster packed = compressor == null ? null
          : compressor.compressCluster(whole(buffer.slice(from, to - from), padded, cs));
      if (packed != null) {
        out.writeCompressed(packed, start + from);
      } else if (compressor != null) {
        out.write(buffer.slice(from, to - from), start + from);
      } else {
        // A run of data clusters in one write.
        while (to < n && !(sparse && Zeros.isZero(buffer, to, Math.min(n, to + cs)))) {
          to = Math.min(n, to + cs);
        }
        out.write(buffer.slice(from, to - from), start + from);
      }
      from = to;
    }
  }

  private static ByteBuffer whole(ByteBuffer cluster, ByteBuffer padded, int cs) {
    if (cluster.remaining() == cs) {
      return cluster;
    }
    padded.clear();
    padded.put(cluster.duplicate());
    Zeros.fill(padded);
    return padded.flip();
  }

  private static void progress(ConvertOptions o, long done) {
    if (o.progress() != null) {
      o.progress().accept(done);
    }
  }
}
