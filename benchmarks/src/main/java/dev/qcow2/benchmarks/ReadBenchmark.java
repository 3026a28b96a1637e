package dev.qcow2.benchmarks;

import dev.qcow2.Qcow2Image;
import java.nio.ByteBuffer;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Reads of plain, zlib and zstd qcow2 images made by qemu-img from the same realistic data:
 * sequential 1 MiB reads through the whole disk, and 4 KiB reads at seeded random aligned offsets.
 * Scores are operations per second; multiply by the read size for bytes per second.
 *
 * <p>Run: {@code mvn -q -B -pl benchmarks -am package -DskipTests && java -jar
 * benchmarks/target/benchmarks.jar ReadBenchmark -f 1 -wi 2 -i 3}. The disk size is {@code
 * -p sizeMiB=256}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class ReadBenchmark {
  @Param({"plain", "zlib", "zstd"})
  public String kind;

  @Param({"256"})
  public int sizeMiB;

  private BenchmarkImages images;
  private Qcow2Image image;
  private final ByteBuffer big = ByteBuffer.allocateDirect(1 << 20);
  private final ByteBuffer small = ByteBuffer.allocateDirect(4096);
  private long next;
  private Random random;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    images = new BenchmarkImages((long) sizeMiB << 20);
    image = Qcow2Image.open(images.path(kind));
    random = new Random(1);
  }

  @TearDown(Level.Trial)
  public void tearDown() throws Exception {
    image.close();
    images.close();
  }

  @Benchmark
  public int sequential1M() throws Exception {
    big.clear();
    int n = image.read(big, next);
    next = (next + big.capacity()) % image.size();
    return n;
  }

  @Benchmark
  public int random4K() throws Exception {
    small.clear();
    long at = (random.nextLong() & Long.MAX_VALUE) % (image.size() / 4096) * 4096;
    return image.read(small, at);
  }
}
