package dev.qcow2.convert;

import dev.qcow2.BlockStatus;
import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.function.LongConsumer;

/**
 * Writes an overlay's data down into its backing file, as {@code qemu-img commit} does: every range
 * allocated in the overlay (or, committing to a deeper base, in any image above that base) is
 * copied into the base, which grows if the overlay is larger. The overlay is then emptied, unless
 * asked to keep it or when committing past an intermediate image, whose content would no longer be
 * consistent below the top.
 */
public final class ImageCommitter {
  private static final int CHUNK = 1 << 20;

  private ImageCommitter() {}

  /** The base image the data went into, by file name. */
  public record Result(String base, long bytesCopied) {}

  /**
   * Commits {@code top} into {@code base} (null for its immediate backing file).
   *
   * @param top the overlay whose data goes down; a qcow2 image with a backing file
   * @param base the image of {@code top}'s backing chain the data goes into, or null for the
   *     immediate backing file
   * @param keepTop leave the overlay's clusters in place (qemu-img commit -d); implied by a base
   *     deeper than the immediate backing file
   * @param progress called with guest bytes done; may be null
   * @return the base written into and the bytes copied
   * @throws IOException if an image cannot be read or written, or {@code base} is not in the chain
   */
  public static Result commit(Path top, Path base, boolean keepTop, LongConsumer progress)
      throws IOException {
    // First, with everything read-only, find the base and the ranges that lie above it. The base
    // is then opened for writing, and nothing reads its metadata through another handle.
    Path basePath;
    String baseFormat;
    int depth;
    long topSize;
    long baseSize;
    java.util.List<long[]> ranges = new java.util.ArrayList<>();
    try (Qcow2Image image = Qcow2Image.open(top)) {
      topSize = image.size();
      DiskImage level = image.backing();
      depth = 1;
      if (level == null) {
        throw new IllegalArgumentException(top + ": Image does not have a backing file");
      }
      Path want = base == null ? null : base.toRealPath();
      while (want != null && !Path.of(level.filename()).toRealPath().equals(want)) {
        level = level.backing();
        depth++;
        if (level == null) {
          throw new IllegalArgumentException(
              "Did not find '" + base + "' in the backing chain of '" + top + "'");
        }
      }
      basePath = Path.of(level.filename()).toRealPath();
      baseFormat = level.format();
      baseSize = level.size();
      long at = 0;
      while (at < topSize) {
        BlockStatus s = image.blockStatus(at, topSize - at);
        if (s.present() && s.depth() < depth) {
          long[] last = ranges.isEmpty() ? null : ranges.get(ranges.size() - 1);
          if (last != null && last[0] + last[1] == at) {
            last[1] += s.length();
          } else {
            ranges.add(new long[] {at, s.length()});
          }
        }
        at += s.length();
      }
    }
    boolean emptyTop = !keepTop && depth == 1;
    long copied = 0;
    if ("qcow2".equals(baseFormat)) {
      try (Qcow2Image out =
          Qcow2Image.open(basePath, OpenOptions.builder().writable(true).build())) {
        if (out.size() < topSize) {
          out.resize(topSize);
        }
        copied =
            copy(
                top,
                ranges,
                topSize,
                progress,
                (data, at) -> {
                  if (ImageConverter.isZero(data, data.position(), data.limit())) {
                    out.writeZeroes(at, data.remaining());
                  } else {
                    out.write(data, at);
                  }
                });
        out.flush();
      }
    } else {
      try (RandomAccessFile file = new RandomAccessFile(basePath.toFile(), "rw")) {
        if (file.length() < topSize) {
          file.setLength(topSize);
        }
        FileChannel ch = file.getChannel();
        copied =
            copy(
                top,
                ranges,
                topSize,
                progress,
                (data, at) -> {
                  while (data.hasRemaining()) {
                    at += ch.write(data, at);
                  }
                });
        ch.force(true);
      }
    }
    if (emptyTop) {
      try (Qcow2Image image =
          Qcow2Image.open(top, OpenOptions.builder().writable(true).openBacking(false).build())) {
        image.makeEmpty();
      }
    }
    return new Result(basePath.toString(), copied);
  }

  private interface Sink {
    void write(ByteBuffer data, long at) throws IOException;
  }

  /** Reads each range through the top image (only images above the base hold it) into the sink. */
  private static long copy(
      Path top, java.util.List<long[]> ranges, long topSize, LongConsumer progress, Sink sink)
      throws IOException {
    long copied = 0;
    ByteBuffer buffer = ByteBuffer.allocateDirect(CHUNK);
    try (Qcow2Image image = Qcow2Image.open(top)) {
      for (long[] r : ranges) {
        for (long at = r[0]; at < r[0] + r[1]; ) {
          int n = (int) Math.min(CHUNK, r[0] + r[1] - at);
          buffer.clear().limit(n);
          image.readFully(buffer, at);
          buffer.flip();
          sink.write(buffer, at);
          at += n;
          copied += n;
          if (progress != null) {
            progress.accept(at);
          }
        }
      }
    }
    if (progress != null) {
      progress.accept(topSize);
    }
    return copied;
  }
}
