package dev.qcow2.benchmarks;

import dev.qcow2.CreateOptions;
import dev.qcow2.OpenOptions;
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
 * The cost of persistent dirty bitmaps on writes (issue 18's target: within 10%): 20000 4 KiB
 * writes at seeded scattered offsets of a 1 GiB image, then the close that stores the bitmaps, with
 * no bitmap or with two enabled ones (64 KiB and 4 KiB granularity). One operation is the whole
 * sequence on a fresh image.
 *
 * <p>Run: {@code mvn -q -B -pl benchmarks -am package -DskipTests && java -jar
 * benchmarks/target/benchmarks.jar BitmapWriteBenchmark -f 1 -wi 2 -i 5}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class BitmapWriteBenchmark {
  @Param({"0", "2"})
  public int bitmaps;

  private Path dir;
  private Path image;
  private final ByteBuffer block = ByteBuffer.allocateDirect(4096);

  @Setup(Level.Trial)
  public void prepare() throws Exception {
    dir = Files.createTempDirectory("qcow2-bitmap-bench");
    image = dir.resolve("bench.qcow2");
    new Random(5).ints(4096).forEach(i -> block.put((byte) i));
    block.flip();
  }

  @Setup(Level.Invocation)
  public void newImage() throws Exception {
    try (Qcow2Image img = Qcow2Image.create(image, CreateOptions.builder(1L << 30).build())) {
      if (bitmaps > 0) {
        img.dirtyBitmaps().add("coarse", 65536, true);
      }
      if (bitmaps > 1) {
        img.dirtyBitmaps().add("fine", 4096, true);
      }
    }
  }

  @Benchmark
  public void scatteredWritesThenClose() throws Exception {
    Random r = new Random(11);
    try (Qcow2Image img = Qcow2Image.open(image, OpenOptions.builder().writable(true).build())) {
      for (int i = 0; i < 20000; i++) {
        img.write(block.duplicate(), 4096L * r.nextInt(1 << 18));
      }
    }
  }

  @TearDown(Level.Trial)
  public void cleanUp() throws Exception {
    Files.deleteIfExists(image);
    Files.deleteIfExists(dir);
  }
}
