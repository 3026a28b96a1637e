package dev.qcow2.convert;

import dev.qcow2.ClusterCompressor;
import dev.qcow2.CompressedCluster;
import dev.qcow2.CreateOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.internal.parallel.Workers;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * A raw disk read once, front to back, from a channel that cannot seek (standard input, a pipe):
 * its size is what was read. Zero runs still become holes in a raw file or unallocated clusters in
 * a qcow2 image, since both targets can seek; a stream target takes raw bytes only (a qcow2 image's
 * layout cannot be planned from a source read once). One thread reads and writes, in order; with
 * compression, workers compress the blocks read ahead.
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
    return next(buffer);
  }

  private int next(ByteBuffer into) throws IOException {
    into.clear();
    while (into.hasRemaining()) {
      if (in.read(into) < 0) {
        break;
      }
    }
    into.flip();
    return into.remaining();
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
    CreateOptions co =
        (o.createOptions() != null ? o.createOptions().toBuilder() : CreateOptions.builder(0))
            .size(FIRST_SIZE)
            .build();
    long size;
    try (Qcow2Image out = Qcow2Image.create(target, co)) {
      size = o.compress() ? compressed(out, o) : plain(out, o);
      out.resize((size + 511) & ~511L);
      out.flush();
    }
    return size;
  }

  /** Grows the image when the block read reaches past its end. */
  private static void grow(Qcow2Image out, long end) throws IOException {
    if (end > out.size()) {
      out.resize(Math.max(2 * out.size(), (end + 511) & ~511L));
    }
  }

  /**
   * Plain clusters: zero ones left out (unless every byte is written), runs of data in one write.
   */
  private long plain(Qcow2Image out, ConvertOptions o) throws IOException {
    int cs = out.clusterSize();
    boolean sparse = o.minSparse() != 0;
    long size = 0;
    int n;
    while ((n = next()) > 0) {
      grow(out, size + n);
      int from = 0;
      while (from < n) {
        int to = Math.min(n, from + cs);
        if (sparse && Zeros.isZero(buffer, from, to)) {
          from = to;
          continue;
        }
        while (to < n && !(sparse && Zeros.isZero(buffer, to, Math.min(n, to + cs)))) {
          to = Math.min(n, to + cs);
        }
        out.write(buffer.slice(from, to - from), size + from);
        from = to;
      }
      size += n;
      progress(o, size);
    }
    return size;
  }

  /** A block whose clusters were compressed: null where a cluster is left out or stored plainly. */
  private record PackedBlock(
      long start, ByteBuffer data, int length, CompressedCluster[] packed, boolean[] zero) {}

  /**
   * Compressed clusters: this thread reads blocks and stores them in order, while {@code threads}
   * workers compress the blocks read ahead (a few blocks at a time, so memory stays bounded). The
   * image does not depend on the number of threads.
   */
  private long compressed(Qcow2Image out, ConvertOptions o) throws IOException {
    int threads = o.threads();
    BlockingQueue<ClusterCompressor> compressors = new ArrayBlockingQueue<>(threads);
    BlockingQueue<ByteBuffer> buffers = new ArrayBlockingQueue<>(threads + 1);
    Deque<Future<PackedBlock>> inFlight = new ArrayDeque<>();
    ExecutorService pool = Executors.newFixedThreadPool(threads, Workers.named("qcow2-convert"));
    try {
      for (int i = 0; i < threads; i++) {
        compressors.add(out.newCompressor());
        buffers.add(ByteBuffer.allocateDirect(BLOCK));
      }
      buffers.add(ByteBuffer.allocateDirect(BLOCK));
      boolean sparse = o.minSparse() != 0;
      int cs = out.clusterSize();
      long size = 0;
      while (true) {
        ByteBuffer b = buffers.poll();
        if (b == null) {
          buffers.add(store(out, Workers.await(inFlight.remove(), "conversion"), o));
          continue;
        }
        int n = next(b);
        if (n == 0) {
          break;
        }
        grow(out, size + n);
        long start = size;
        inFlight.add(pool.submit(() -> pack(b, n, start, cs, sparse, compressors)));
        size += n;
      }
      while (!inFlight.isEmpty()) {
        store(out, Workers.await(inFlight.remove(), "conversion"), o);
      }
      return size;
    } finally {
      // Not shutdownNow: the workers finish what they hold, then their compressors are freed.
      Workers.stop(pool);
      for (ClusterCompressor c : compressors) {
        c.close();
      }
    }
  }

  /**
   * A worker's part: which clusters are zeros, and the compressed form of the others that shrink.
   */
  private static PackedBlock pack(
      ByteBuffer data,
      int n,
      long start,
      int cs,
      boolean sparse,
      BlockingQueue<ClusterCompressor> compressors)
      throws InterruptedException {
    int clusters = (n + cs - 1) / cs;
    CompressedCluster[] packed = new CompressedCluster[clusters];
    boolean[] zero = new boolean[clusters];
    ClusterCompressor compressor = compressors.take();
    try {
      for (int i = 0; i < clusters; i++) {
        int from = i * cs;
        int to = Math.min(n, from + cs);
        zero[i] = sparse && Zeros.isZero(data, from, to);
        if (!zero[i]) {
          packed[i] = compressor.compressCluster(whole(data.slice(from, to - from), cs));
        }
      }
    } finally {
      compressors.add(compressor);
    }
    return new PackedBlock(start, data, n, packed, zero);
  }

  /** The writer's part for one block, in guest order; returns the block's buffer. */
  private static ByteBuffer store(Qcow2Image out, PackedBlock b, ConvertOptions o)
      throws IOException {
    int cs = out.clusterSize();
    for (int i = 0; i < b.packed().length; i++) {
      int from = i * cs;
      if (b.packed()[i] != null) {
        out.writeCompressed(b.packed()[i], b.start() + from);
      } else if (!b.zero()[i]) {
        out.write(b.data().slice(from, Math.min(b.length(), from + cs) - from), b.start() + from);
      }
    }
    progress(o, b.start() + b.length());
    return b.data();
  }

  /** One whole cluster: the disk's last one padded with zeros, as qemu does. */
  private static ByteBuffer whole(ByteBuffer cluster, int cs) {
    if (cluster.remaining() == cs) {
      return cluster;
    }
    ByteBuffer padded = ByteBuffer.allocateDirect(cs);
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
