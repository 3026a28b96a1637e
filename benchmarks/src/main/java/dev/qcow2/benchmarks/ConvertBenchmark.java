package dev.qcow2.benchmarks;

import dev.qcow2.DiskImage;
import dev.qcow2.convert.ImageConverter;
import java.nio.file.Files;
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
 * Whole-image export to a sparse raw file: {@link ImageConverter#toRaw} on all available cores
 * ({@code tool=ours}) against {@code qemu-img convert -O raw} run as a process ({@code
 * tool=qemu-img}, its defaults), from plain, zlib and zstd qcow2 images that qemu-img made from the
 * same realistic data ({@link BenchmarkImages}).
 *
 * <p>One operation is one conversion of the whole disk; the primary score is conversions per
 * second, and the secondary score {@code :bytes} is guest (virtual) bytes per second. Ours opens
 * the image in each operation, as the CLI does, but runs in a warm JVM; qemu-img pays its process
 * start (a few milliseconds). For the user-visible comparison, JVM start included, use {@code
 * benchmarks/compare-qemu.sh}. The output goes to {@code java.io.tmpdir} and is deleted after each
 * operation, so its writeback to disk is part of what is measured and is noisy; add {@code
 * -jvmArgsAppend -Djava.io.tmpdir=/dev/shm} to take the disk out.
 *
 * <p>Run (from the repository root):
 *
 * <pre>{@code
 * mvn -q -B -pl benchmarks -am package -DskipTests && java -jar benchmarks/target/benchmarks.jar ConvertBenchmark -f 1 -wi 2 -i 3
 * }</pre>
 *
 * The disk is {@code sizeMiB} (default 256) MiB; {@code -p sizeMiB=32} makes a quick smoke run,
 * {@code -p tool=ours} leaves qemu-img out. qemu-img must be on the PATH.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class ConvertBenchmark {
  @Param({"plain", "zlib", "zstd"})
  public String kind;

  @Param({"ours", "qemu-img"})
  public String tool;

  @Param({"256"})
  public int sizeMiB;

  private BenchmarkImages images;
  private Path source;
  private Path target;
  private int threads;

  @Setup(Level.Trial)
  public void makeImage() throws Exception {
    if (!tool.equals("ours") && !tool.equals("qemu-img")) {
      throw new IllegalArgumentException("tool must be ours or qemu-img: " + tool);
    }
    images = new BenchmarkImages((long) sizeMiB << 20, kind);
    source = images.path(kind);
    target = images.dir.resolve("out.raw");
    threads = Runtime.getRuntime().availableProcessors();
  }

  @TearDown(Level.Invocation)
  public void deleteOutput() throws Exception {
    Files.deleteIfExists(target);
  }

  @TearDown(Level.Trial)
  public void deleteImage() throws Exception {
    images.close();
  }

  /**
   * Guest bytes converted, reported by JMH per second as {@code ConvertBenchmark.convert:bytes}.
   */
  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.OPERATIONS)
  public static class Converted {
    public long bytes;

    @Setup(Level.Iteration)
    public void reset() {
      bytes = 0;
    }
  }

  @Benchmark
  public void convert(Converted converted) throws Exception {
    if (tool.equals("ours")) {
      try (DiskImage image = DiskImage.open(source)) {
        ImageConverter.toRaw(image, target, threads, null);
      }
    } else {
      BenchmarkImages.qemuImg("convert", "-O", "raw", source.toString(), target.toString());
    }
    converted.bytes += images.size;
  }
}
