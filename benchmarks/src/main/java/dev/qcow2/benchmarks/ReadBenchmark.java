package dev.qcow2.benchmarks;

import dev.qcow2.Qcow2Image;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Read throughput of {@link Qcow2Image#read(ByteBuffer, long)} on qcow2 images that qemu-img made
 * from the same realistic data ({@link BenchmarkImages}: text-like runs, random bytes, zero runs),
 * uncompressed ({@code kind=plain}) and compressed with zlib or zstd.
 *
 * <ul>
 *   <li>{@code access=sequential1M}: 1 MiB reads one after the other through the whole disk,
 *       wrapping at its end (the pattern of a copy or a hash).
 *   <li>{@code access=random4K}: 4 KiB reads at 4 KiB-aligned offsets drawn from a seeded random
 *       generator (the pattern of a guest's file system; on compressed images every read
 *       decompresses a whole cluster).
 * </ul>
 *
 * <p>Every invocation reads exactly 1 MiB (one sequential read, or 256 random 4 KiB reads) and
 * counts as 2<sup>20</sup> operations, so <b>the score is bytes per second</b> of guest data read.
 * The image is opened once per trial, so after the first pass its metadata is cached and, for
 * {@code plain}, the file's data sits in the page cache: this measures the library's read path, not
 * the disk. The comparison with qemu-img is {@code benchmarks/compare-qemu.sh}.
 *
 * <p>Run (from the repository root):
 *
 * <pre>{@code
 * mvn -q -B -pl benchmarks -am package -DskipTests && java -jar benchmarks/target/benchmarks.jar ReadBenchmark -f 1 -wi 2 -i 3
 * }</pre>
 *
 * The disk is {@code sizeMiB} (default 256) MiB; {@code -p sizeMiB=32} makes a quick smoke run,
 * {@code -p kind=zstd -p access=random4K} picks one case. qemu-img must be on the PATH; the images
 * go to {@code java.io.tmpdir} and are deleted at the end of the trial.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class ReadBenchmark {
  /** Bytes read per invocation, whatever the access pattern. */
  static final int BYTES_PER_INVOCATION = 1 << 20;

  @Param({"plain", "zlib", "zstd"})
  public String kind;

  @Param({"sequential1M", "random4K"})
  public String access;

  @Param({"256"})
  public int sizeMiB;

  private BenchmarkImages images;
  private Qcow2Image image;

  @Setup(Level.Trial)
  public void openImage() throws Exception {
    if (!access.equals("sequential1M") && !access.equals("random4K")) {
      throw new IllegalArgumentException("access must be sequential1M or random4K: " + access);
    }
    images = new BenchmarkImages((long) sizeMiB << 20, kind);
    image = Qcow2Image.open(images.path(kind));
  }

  @TearDown(Level.Trial)
  public void deleteImage() throws Exception {
    try (BenchmarkImages toDelete = images) {
      if (image != null) {
        image.close();
      }
    }
  }

  /** One reader's position, buffer and random offsets; each benchmark thread has its own. */
  @State(Scope.Thread)
  public static class Cursor {
    ByteBuffer buffer;
    boolean sequential;
    int readSize;
    long next;
    long blocks;
    SplittableRandom random;

    @Setup(Level.Trial)
    public void start(ReadBenchmark bench) {
      sequential = bench.access.equals("sequential1M");
      readSize = sequential ? 1 << 20 : 4096;
      buffer = ByteBuffer.allocateDirect(readSize);
      blocks = bench.image.size() / readSize;
      // Seeded, so every run reads the same offsets in the same order.
      random = new SplittableRandom(1);
      next = 0;
    }
  }

  @Benchmark
  @OperationsPerInvocation(BYTES_PER_INVOCATION)
  public long read(Cursor c) throws IOException {
    long bytes = 0;
    for (int i = BYTES_PER_INVOCATION / c.readSize; i > 0; i--) {
      long offset;
      if (c.sequential) {
        offset = c.next * c.readSize;
        c.next = c.next + 1 == c.blocks ? 0 : c.next + 1;
      } else {
        offset = c.random.nextLong(c.blocks) * c.readSize;
      }
      c.buffer.clear();
      bytes += image.read(c.buffer, offset);
    }
    return bytes;
  }
}
