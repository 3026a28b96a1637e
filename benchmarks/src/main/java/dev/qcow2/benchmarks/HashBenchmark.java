package dev.qcow2.benchmarks;

import dev.qcow2.DiskImage;
import dev.qcow2.hash.ContentHasher;
import dev.qcow2.hash.HashAlgorithm;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
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
 * The content hasher over plain and compressed images of realistic data: sha1, sha256 and
 * tree-sha256 of the whole virtual disk, on all cores. The secondary score {@code :bytes} is guest
 * bytes per second. (The side-by-side comparison with qemu-nbd, nbdcopy and sha1sum is in {@code
 * benchmarks/compare-qemu.sh --convert}.)
 *
 * <pre>{@code
 * java -jar benchmarks/target/benchmarks.jar HashBenchmark -f 1 -wi 1 -i 3
 * }</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class HashBenchmark {
  @Param({"plain", "zlib", "zstd"})
  public String kind;

  @Param({"sha1", "sha256", "tree-sha256"})
  public String algorithm;

  @Param({"256"})
  public int sizeMiB;

  private BenchmarkImages images;
  private Path source;

  @Setup(Level.Trial)
  public void makeImage() throws Exception {
    images = new BenchmarkImages((long) sizeMiB << 20, kind);
    source = images.path(kind);
  }

  @TearDown(Level.Trial)
  public void deleteImage() throws Exception {
    images.close();
  }

  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.OPERATIONS)
  public static class Hashed {
    public long bytes;

    @Setup(Level.Iteration)
    public void reset() {
      bytes = 0;
    }
  }

  @Benchmark
  public String hash(Hashed hashed) throws Exception {
    try (DiskImage image = DiskImage.open(source)) {
      String hex =
          ContentHasher.hash(
                  image,
                  HashAlgorithm.of(algorithm),
                  Runtime.getRuntime().availableProcessors(),
                  null)
              .hex();
      hashed.bytes += images.size;
      return hex;
    }
  }
}
