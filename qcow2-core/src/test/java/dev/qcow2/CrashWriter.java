package dev.qcow2;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

/**
 * The child process of {@link CrashTest}: opens an image writable and applies the operations that
 * {@link Ops} derives from a seed until it is killed. Before each operation it prints {@code op K}
 * (K counts from 0), and after each flush {@code flushed N}, meaning operations 0..N-1 are durable.
 * It prints {@code ready} once the image is open and {@code done} if it runs out of operations.
 *
 * <p>Usage: {@code java -cp <test classpath> dev.qcow2.CrashWriter <image> <seed> [maxOps]}
 */
public final class CrashWriter {
  private CrashWriter() {}

  public static void main(String[] args) throws IOException {
    Path image = Path.of(args[0]);
    long seed = Long.parseLong(args[1]);
    int maxOps = args.length > 2 ? Integer.parseInt(args[2]) : 1_000_000;
    PrintStream out = System.out;
    try (Qcow2Image img = Qcow2Image.open(image, OpenOptions.builder().writable(true).build())) {
      Ops ops = new Ops(seed, img.size(), img.clusterSize());
      out.println("ready");
      for (int i = 0; i < maxOps; i++) {
        Op op = ops.next();
        out.println("op " + i);
        apply(img, op);
        if (op.kind == Kind.FLUSH) {
          out.println("flushed " + (i + 1));
        }
      }
      img.flush();
      out.println("flushed " + maxOps);
    }
    out.println("done");
    out.flush();
  }

  enum Kind {
    WRITE,
    ZERO,
    DISCARD,
    COMPRESSED,
    FLUSH
  }

  /** One operation; {@code pattern} seeds the content of writes. */
  record Op(Kind kind, long offset, long length, int pattern) {
    @Override
    public String toString() {
      return kind.name().toLowerCase(java.util.Locale.ROOT)
          + "("
          + offset
          + "+"
          + length
          + (kind == Kind.WRITE || kind == Kind.COMPRESSED ? ", p" + pattern : "")
          + ")";
    }
  }

  /**
   * The byte a write with {@code pattern} puts at guest offset {@code guest}: it changes every 512
   * bytes, so data that lands at the wrong place is seen, and it compresses well.
   */
  static byte content(int pattern, long guest) {
    long sector = guest >>> 9;
    return (byte) (pattern + 37 * sector + ((guest & 511) < 8 ? (guest & 7) * 11 : 0));
  }

  static byte[] data(Op op) {
    byte[] b = new byte[(int) op.length];
    for (int i = 0; i < b.length; i++) {
      b[i] = content(op.pattern, op.offset + i);
    }
    return b;
  }

  static void apply(Qcow2Image img, Op op) throws IOException {
    switch (op.kind) {
      case WRITE -> img.write(ByteBuffer.wrap(data(op)), op.offset);
      case ZERO -> img.writeZeroes(op.offset, op.length);
      case DISCARD -> img.discard(op.offset, op.length);
      case COMPRESSED -> img.writeCompressed(ByteBuffer.wrap(data(op)), op.offset);
      case FLUSH -> img.flush();
    }
  }

  /**
   * What each operation does to the guest's view: writes and zero writes their range, discards the
   * whole clusters inside their range (and the disk's last, partial cluster) unless the image is
   * version 2 with a backing file, where discards do nothing.
   */
  static void applyToModel(byte[] model, Op op, int clusterSize, boolean discardIgnored) {
    int from = (int) op.offset;
    int to = (int) (op.offset + op.length);
    switch (op.kind) {
      case WRITE, COMPRESSED -> {
        for (int i = from; i < to; i++) {
          model[i] = content(op.pattern, i);
        }
      }
      case ZERO -> Arrays.fill(model, from, to, (byte) 0);
      case DISCARD -> {
        if (!discardIgnored) {
          long first = (op.offset + clusterSize - 1) / clusterSize * clusterSize;
          long end = to == model.length ? to : (long) to / clusterSize * clusterSize;
          for (long c = first; c < end; c += clusterSize) {
            Arrays.fill(model, (int) c, (int) Math.min(model.length, c + clusterSize), (byte) 0);
          }
        }
      }
      case FLUSH -> {}
    }
  }

  /** The guest bytes an operation may change, as [from, to), or null for none. */
  static long[] touched(Op op) {
    return op.kind == Kind.FLUSH ? null : new long[] {op.offset, op.offset + op.length};
  }

  /** The deterministic operation sequence for a seed and a disk geometry. */
  static final class Ops {
    private final Random r;
    private final long size;
    private final int clusterSize;

    Ops(long seed, long size, int clusterSize) {
      this.r = new Random(seed);
      this.size = size;
      this.clusterSize = clusterSize;
    }

    Op next() {
      int k = r.nextInt(100);
      int pattern = 1 + r.nextInt(254);
      long clusters = size / clusterSize;
      if (k < 14) {
        return new Op(Kind.FLUSH, 0, 0, 0);
      }
      if (k < 20) {
        long at =
            (long) r.nextInt((int) Math.max(1, (size + clusterSize - 1) / clusterSize))
                * clusterSize;
        return new Op(Kind.COMPRESSED, at, Math.min(clusterSize, size - at), pattern);
      }
      long offset;
      long length;
      switch (r.nextInt(5)) {
        case 0 -> { // whole clusters
          offset = (long) r.nextInt((int) Math.max(1, clusters)) * clusterSize;
          length = (long) (1 + r.nextInt(8)) * clusterSize;
        }
        case 1 -> { // small and unaligned
          offset = (long) (r.nextDouble() * size);
          length = 1 + r.nextInt(600);
        }
        case 2 -> { // sector-aligned, up to a few clusters
          offset = (long) (r.nextDouble() * size) & ~511L;
          length = 512L * (1 + r.nextInt(Math.max(1, 3 * clusterSize / 512)));
        }
        case 3 -> { // large, unaligned
          offset = (long) (r.nextDouble() * size);
          length = 1 + r.nextInt(256 << 10);
        }
        default -> { // up to three clusters, unaligned
          offset = (long) (r.nextDouble() * size);
          length = 1 + r.nextInt(3 * clusterSize);
        }
      }
      length = Math.min(length, 4L << 20);
      offset = Math.min(offset, size - 1);
      length = Math.max(1, Math.min(length, size - offset));
      if (k < 75) {
        return new Op(Kind.WRITE, offset, length, pattern);
      }
      if (k < 88) {
        return new Op(Kind.ZERO, offset, length, 0);
      }
      return new Op(Kind.DISCARD, offset, length, 0);
    }
  }
}
