package dev.qcow2.benchmarks;

import dev.qcow2.CompressionType;
import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.convert.ConvertOptions;
import dev.qcow2.convert.ImageConverter;
import java.nio.file.Files;
import java.nio.file.Path;
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
 * Compressed conversion of a raw disk of realistic data to qcow2: {@link ImageConverter} with
 * compression on all cores, out of order ({@code tool=ours}), against {@code qemu-img convert -c -m
 * 8 -W} ({@code tool=qemu-img}), for zlib and zstd. The secondary score {@code :bytes} is guest
 * bytes per second.
 *
 * <pre>{@code
 * java -jar benchmarks/target/benchmarks.jar CompressBenchmark -f 1 -wi 1 -i 3 -jvmArgsAppend -Djava.io.tmpdir=/dev/shm
 * }</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class CompressBenchmark {
  @Param({"zlib", "zstd"})
  public String codec;

  @Param({"ours", "qemu-img"})
  public String tool;

  @Param({"256"})
  public int sizeMiB;

  private BenchmarkImages images;
  private Path target;

  @Setup(Level.Trial)
  public void makeImage() throws Exception {
    images = new BenchmarkImages((long) sizeMiB << 20);
    target = images.dir.resolve("out.qcow2");
  }

  @TearDown(Level.Invocation)
  public void deleteOutput() throws Exception {
    Files.deleteIfExists(target);
  }

  @TearDown(Level.Trial)
  public void deleteImage() throws Exception {
    images.close();
  }

  @Benchmark
  public void compress(ConvertBenchmark.Converted converted) throws Exception {
    if (tool.equals("ours")) {
      try (DiskImage image = DiskImage.open(images.raw)) {
        ImageConverter.convert(
            image,
            target,
            ConvertOptions.builder()
                .targetFormat("qcow2")
                .compress(true)
                .outOfOrder(true)
                .threads(Runtime.getRuntime().availableProcessors())
                .createOptions(
                    CreateOptions.builder(0)
                        .compressionType(
                            codec.equals("zstd") ? CompressionType.ZSTD : CompressionType.ZLIB)
                        .build())
                .build());
      }
    } else {
      BenchmarkImages.qemuImg(
          "convert",
          "-c",
          "-m",
          "8",
          "-W",
          "-O",
          "qcow2",
          "-o",
          "compression_type=" + codec,
          images.raw.toString(),
          target.toString());
    }
    converted.bytes += images.size;
  }
}
