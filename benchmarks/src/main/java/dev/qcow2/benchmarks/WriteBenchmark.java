package dev.qcow2.benchmarks;

import dev.qcow2.CreateOptions;
import dev.qcow2.Qcow2Image;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
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
 * Writes into a fresh qcow2 image (64 KiB clusters): sequential 1 MiB writes that allocate as they
 * go, 4 KiB writes at seeded random offsets (allocation plus copy-on-write of the rest of each
 * cluster), and whole-cluster compressed writes. Each iteration starts from a new image; data is
 * realistic (compressible) content. Scores are operations per second.
 *
 * <p>Run: {@code mvn -q -B -pl benchmarks -am package -DskipTests && java -jar
 * benchmarks/target/benchmarks.jar WriteBenchmark -f 1 -wi 2 -i 3}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class WriteBenchmark {
  @Param({"zlib", "zstd"})
  public String compression;

  @Param({"1024"})
  public int sizeMiB;

  private Path dir;
  private Qcow2Image image;
  private ByteBuffer data;
  private long next;
  private Random random;

  @Setup(Level.Trial)
  public void prepare() throws Exception {
    dir = Files.createTempDirectory("qcow2-write-bench");
    Path raw = dir.resolve("data.raw");
    BenchmarkImages.writeRealistic(raw, 4 << 20, 7);
    byte[] bytes = Files.readAllBytes(raw);
    data = ByteBuffer.allocateDirect(bytes.length).put(bytes).flip();
    random = new Random(3);
  }

  @Setup(Level.Iteration)
  public void newImage() throws Exception {
    CreateOptions options =
        CreateOptions.builder((long) sizeMiB << 20)
            .compressionType(
                "zstd".equals(compression)
                    ? dev.qcow2.CompressionType.ZSTD
                    : dev.qcow2.CompressionType.ZLIB)
            .build();
    image = Qcow2Image.create(dir.resolve("bench.qcow2"), options);
    next = 0;
  }

  @TearDown(Level.Iteration)
  public void closeImage() throws Exception {
    image.close();
    Files.deleteIfExists(dir.resolve("bench.qcow2"));
  }

  @TearDown(Level.Trial)
  public void cleanUp() throws Exception {
    Files.deleteIfExists(dir.resolve("data.raw"));
    Files.deleteIfExists(dir);
  }

  private ByteBuffer slice(int length) {
    int at = (int) ((next * 7919) % (data.capacity() - length));
    return data.duplicate().position(at).limit(at + length);
  }

  @Benchmark
  public void sequential1M() throws Exception {
    image.write(slice(1 << 20), next);
    next = (next + (1 << 20)) % image.size();
  }

  @Benchmark
  public void random4K() throws Exception {
    long at = (random.nextLong() & Long.MAX_VALUE) % (image.size() / 4096) * 4096;
    image.write(slice(4096), at);
  }

  @Benchmark
  public void compressedCluster() throws Exception {
    image.writeCompressed(slice(65536), next);
    next = (next + 65536) % image.size();
  }
}
