package dev.qcow2.convert;

import dev.qcow2.BackingName;
import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * A qcow2 file as the target: made new (or opened, with -n), then filled by the chunk pipeline's
 * one writer, in guest order or, with out-of-order writes, in the order chunks are ready. Clusters
 * that read as zeros are not written: a new image reads zeros there already.
 */
final class Qcow2Target {
  private Qcow2Target() {}

  static void convert(DiskImage source, Path target, ConvertOptions o) throws IOException {
    long size = source.size();
    try (Qcow2Image out = o.noCreate() ? openExisting(target, size, o) : create(target, size, o)) {
      DiskImage base = o.backingFile() != null ? out.backing() : null;
      // An existing target keeps its old content where nothing is written: write the zeros too.
      boolean explicitZeros = o.noCreate() && !o.targetIsZero();
      ChunkJob job =
          new ChunkJob(
              source,
              base,
              out.clusterSize(),
              explicitZeros,
              o.minSparse() == 0,
              o.compress() ? out::newCompressor : null,
              null);
      ChunkPipeline.run(job, o.threads(), o.outOfOrder(), o.progress(), w -> store(out, w));
      out.flush();
    }
  }

  private static Qcow2Image openExisting(Path target, long size, ConvertOptions o)
      throws IOException {
    Qcow2Image out = Qcow2Image.open(target, openOptions(o));
    if (out.size() < size) {
      long has = out.size();
      out.close();
      throw new IllegalArgumentException(
          target + ": the target is smaller than the source (" + has + " < " + size + " bytes)");
    }
    return out;
  }

  private static Qcow2Image create(Path target, long size, ConvertOptions o) throws IOException {
    CreateOptions.Builder b =
        (o.createOptions() != null ? o.createOptions().toBuilder() : CreateOptions.builder(0))
            .size((size + 511) & ~511L);
    if (o.backingFile() != null) {
      String format = o.backingFormat();
      if (format == null) {
        format = BackingName.probeFormat(target.toAbsolutePath(), o.backingFile());
        if (format == null) {
          // -B names the file whose content the target leaves out, so it must be there to compare.
          throw new NoSuchFileException(
              BackingName.resolve(target.toAbsolutePath(), o.backingFile()).toString());
        }
      }
      b.backingFile(o.backingFile(), format);
    }
    return Qcow2Image.create(target, b.build(), openOptions(o));
  }

  private static OpenOptions openOptions(ConvertOptions o) {
    OpenOptions base =
        o.targetOpenOptions() != null ? o.targetOpenOptions() : OpenOptions.defaults();
    return base.toBuilder().writable(true).noFlush(o.noFlush()).build();
  }

  /** The writer's part for one chunk, on the calling thread: runs of equal actions at a time. */
  static void store(Qcow2Image out, ChunkWork w) throws IOException {
    int cs = out.clusterSize();
    byte[] actions = w.actions();
    int i = 0;
    while (i < actions.length) {
      byte action = actions[i];
      int j = i + 1;
      if (action != ChunkWork.PACKED) {
        while (j < actions.length && actions[j] == action) {
          j++;
        }
      }
      int from = i * cs;
      int to = Math.min(w.length(), j * cs);
      long at = w.start() + from;
      switch (action) {
        case ChunkWork.DATA -> out.write(w.slice(from, to), at);
        case ChunkWork.ZERO -> out.writeZeroes(at, to - from);
        case ChunkWork.PACKED -> out.writeCompressed(w.packed()[i], at);
        default -> {}
      }
      i = j;
    }
  }
}
