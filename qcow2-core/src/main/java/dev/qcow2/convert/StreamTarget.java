package dev.qcow2.convert;

import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.ForwardWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.util.function.LongConsumer;

/**
 * An {@link ImageStream} as the target: the image written front to back, raw or qcow2, through the
 * chunk pipeline in guest order (so the bytes do not depend on the number of threads).
 *
 * <p>A qcow2 image's head points past its data ({@link ForwardWriter}). When the stream takes the
 * head last, one pass suffices. Otherwise a first pass walks the source (block status, then the
 * data: reads, zero scans and, with compression, compression) and records only which clusters are
 * stored and in how many bytes; the head goes out, and a second pass reads and compresses again,
 * skipping the chunks that store nothing. The second pass must agree with the first, cluster for
 * cluster, or the conversion fails.
 */
final class StreamTarget {
  private StreamTarget() {}

  static void convert(DiskImage source, ImageStream target, ConvertOptions o) throws IOException {
    if (o.noCreate() || o.backingFile() != null) {
      throw new IllegalArgumentException(
          "an image written as a stream is always new and has no backing file");
    }
    WritableByteChannel out = channel(target);
    if ("raw".equals(o.targetFormat())) {
      ChunkJob job = new ChunkJob(source, null, 64 << 10, false, false, null, null);
      ChunkPipeline.run(
          job, o.threads(), false, o.progress(), w -> storeRaw(w, out, job.clusterSize()));
    } else {
      qcow2(source, target, out, o);
    }
    target.finish();
  }

  private static void qcow2(
      DiskImage source, ImageStream target, WritableByteChannel out, ConvertOptions o)
      throws IOException {
    CreateOptions co =
        (o.createOptions() != null ? o.createOptions().toBuilder() : CreateOptions.builder(0))
            .size((source.size() + 511) & ~511L)
            .build();
    ForwardWriter last = target.headCapacity() > 0 ? headLast(co) : null;
    LongConsumer progress = o.progress();
    if (last != null && last.headLength() <= target.headCapacity()) {
      target.deferHead(last.headLength());
      ChunkPipeline.run(
          job(source, last, o, null), o.threads(), false, progress, w -> emit(last, w, out));
      last.tail(out);
      target.writeHead(last.head());
      return;
    }
    ForwardWriter w = ForwardWriter.headFirst(co);
    long size = source.size();
    ChunkPipeline.run(
        job(source, w, o, null),
        o.threads(),
        false,
        progress == null ? null : done -> progress.accept(done / 2),
        work -> plan(w, work));
    ByteBuffer head = w.head();
    while (head.hasRemaining()) {
      out.write(head);
    }
    ChunkPipeline.run(
        job(source, w, o, (start, length) -> !w.plansData(start, length)),
        o.threads(),
        false,
        progress == null ? null : done -> progress.accept(size / 2 + done / 2),
        work -> emit(w, work, out));
    w.tail(out);
  }

  /** A head-last writer, or null where its worst-case refcount table would be too large. */
  private static ForwardWriter headLast(CreateOptions co) {
    try {
      return ForwardWriter.headLast(co);
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  private static ChunkJob job(
      DiskImage source, ForwardWriter w, ConvertOptions o, ChunkJob.Holes holes) {
    return new ChunkJob(
        source,
        null,
        w.clusterSize(),
        false,
        o.minSparse() == 0,
        o.compress() ? w::newCompressor : null,
        holes);
  }

  /** First pass: which clusters are stored, and in how many bytes. */
  private static void plan(ForwardWriter w, ChunkWork work) {
    int cs = w.clusterSize();
    byte[] actions = work.actions();
    for (int i = 0; i < actions.length; i++) {
      long at = work.start() + (long) i * cs;
      switch (actions[i]) {
        case ChunkWork.DATA -> w.plan(at, cs);
        case ChunkWork.PACKED -> w.plan(at, work.packed()[i].length());
        default -> {}
      }
    }
  }

  private static void emit(ForwardWriter w, ChunkWork work, WritableByteChannel out)
      throws IOException {
    int cs = w.clusterSize();
    byte[] actions = work.actions();
    for (int i = 0; i < actions.length; i++) {
      long at = work.start() + (long) i * cs;
      switch (actions[i]) {
        case ChunkWork.DATA ->
            w.writeData(at, work.slice(i * cs, Math.min(work.length(), (i + 1) * cs)), out);
        case ChunkWork.PACKED -> w.writeCompressed(at, work.packed()[i], out);
        default -> {}
      }
    }
  }

  /** A raw chunk: its data, and zeros where nothing was stored. */
  private static void storeRaw(ChunkWork w, WritableByteChannel out, int cs) throws IOException {
    byte[] actions = w.actions();
    int i = 0;
    while (i < actions.length) {
      boolean data = actions[i] == ChunkWork.DATA;
      int j = i + 1;
      while (j < actions.length && (actions[j] == ChunkWork.DATA) == data) {
        j++;
      }
      int from = i * cs;
      int to = Math.min(w.length(), j * cs);
      if (data) {
        ByteBuffer b = w.slice(from, to);
        while (b.hasRemaining()) {
          out.write(b);
        }
      } else {
        Zeros.write(out, to - from);
      }
      i = j;
    }
  }

  /** {@code target} as a channel, for the writers that take one. */
  static WritableByteChannel channel(ImageStream target) {
    return new WritableByteChannel() {
      @Override
      public int write(ByteBuffer src) throws IOException {
        int n = src.remaining();
        target.write(src);
        src.position(src.limit());
        return n;
      }

      @Override
      public boolean isOpen() {
        return true;
      }

      @Override
      public void close() {
        // The stream's owner closes it.
      }
    };
  }
}
