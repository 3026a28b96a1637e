package dev.qcow2.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.testing.FailingImage;
import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Converting to qcow2 through our writer: qemu-img check finds nothing and the content is equal.
 */
class ToQcow2Test {

  @ParameterizedTest(name = "{0} -> cluster {1}, {2} threads")
  // A raw source with nothing to compress has one worker fewer than threads (the writer is one):
  // 3 and 4 threads keep several workers on it.
  @CsvSource({
    "raw, 65536, 2",
    "raw, 65536, 4",
    "raw, 4096, 1",
    "zlib, 65536, 2",
    "zstd, 2097152, 2",
    "raw, 512, 3"
  })
  void convertedImageEqualsItsSource(String source, int clusterSize, int threads, @TempDir Path dir)
      throws IOException {
    TestData.writeRaw(dir.resolve("src.raw"), 20L << 20, clusterSize);
    String input = "src.raw";
    if (!source.equals("raw")) {
      Qemu.img(
          dir,
          "convert",
          "-c",
          "-O",
          "qcow2",
          "-o",
          "compression_type=" + source,
          "src.raw",
          "src.qcow2");
      input = "src.qcow2";
    }
    try (DiskImage src = DiskImage.open(dir.resolve(input))) {
      long[] last = {0};
      ImageConverter.toQcow2(
          src,
          dir.resolve("out.qcow2"),
          CreateOptions.builder(0).clusterSize(clusterSize).build(),
          threads,
          done -> last[0] = done);
      assertEquals(src.size(), last[0], "progress reaches the end");
    }
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "out.qcow2"));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    assertTrue(check.stdout().contains("No errors were found"), check.stdout());
    Qemu.Result compare = Qemu.exec(dir, List.of("qemu-img", "compare", input, "out.qcow2"));
    assertEquals(0, compare.exitCode(), compare.stdout() + compare.stderr());
  }

  /**
   * Data, a hole far longer than the workers' buffers hold, data again, a shorter hole and data:
   * workers run through holes ahead of the writer, which must still store every chunk in order (or,
   * out of order, every chunk once).
   */
  @ParameterizedTest(name = "out of order: {0}, {1} threads")
  @CsvSource({"false, 2", "true, 2", "false, 1", "true, 3", "false, 4"})
  void longHolesBetweenDataConvertExactly(boolean outOfOrder, int threads, @TempDir Path dir)
      throws IOException {
    Path raw = dir.resolve("holes.raw");
    try (RandomAccessFile f = new RandomAccessFile(raw.toFile(), "rw")) {
      f.setLength(80L << 20);
      writePattern(f, 0, 3 << 20, 0x11);
      writePattern(f, 40L << 20, 5 << 20, 0x22);
      writePattern(f, (70L << 20) + 4096, 4096, 0x33);
      writePattern(f, (80L << 20) - 65536, 65536, 0x44);
    }
    try (DiskImage src = DiskImage.open(raw)) {
      ImageConverter.convert(
          src,
          dir.resolve("out.qcow2"),
          ConvertOptions.builder()
              .targetFormat("qcow2")
              .threads(threads)
              .outOfOrder(outOfOrder)
              .build());
      src.readFully(ByteBuffer.allocate(4096), 40L << 20); // still open and readable
    }
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "out.qcow2"));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    Qemu.Result compare = Qemu.exec(dir, List.of("qemu-img", "compare", "holes.raw", "out.qcow2"));
    assertEquals(0, compare.exitCode(), compare.stdout() + compare.stderr());
    Qemu.Result map = Qemu.exec(dir, List.of("qemu-img", "map", "--output=json", "out.qcow2"));
    long stored = 0;
    java.util.regex.Matcher m =
        java.util.regex.Pattern.compile("\"length\": (\\d+),[^}]*\"data\": true")
            .matcher(map.stdout());
    while (m.find()) {
      stored += Long.parseLong(m.group(1));
    }
    // The clusters of the four data runs, and nothing of the holes.
    assertEquals((3L << 20) + (5L << 20) + 65536 + 65536, stored, map.stdout());
  }

  /**
   * A source that fails part-way: the error reaches the caller, in either order, without a hang.
   */
  @ParameterizedTest(name = "out of order: {0}")
  @CsvSource({"false", "true"})
  void aFailingSourceEndsTheConversionWithItsError(boolean outOfOrder, @TempDir Path dir)
      throws Exception {
    TestData.writeRaw(dir.resolve("src.raw"), 64L << 20, 65536);
    try (DiskImage good = DiskImage.open(dir.resolve("src.raw"))) {
      DiskImage failing = new FailingImage(good, 37L << 20, 20);
      IOException e =
          assertTimeoutPreemptively(
              Duration.ofSeconds(30),
              () ->
                  assertThrows(
                      IOException.class,
                      () ->
                          ImageConverter.convert(
                              failing,
                              dir.resolve("out.qcow2"),
                              ConvertOptions.builder()
                                  .targetFormat("qcow2")
                                  .threads(3)
                                  .outOfOrder(outOfOrder)
                                  .build())));
      assertTrue(e.getMessage().contains("disk went away"), e.getMessage());
      // Workers are stopped, not interrupted: an interrupt in a read would have closed the
      // caller's channel (given the time to reach it).
      Thread.sleep(200);
      good.readFully(ByteBuffer.allocate(65536), 40L << 20);
    }
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "out.qcow2"));
    assertEquals(
        0,
        check.exitCode(),
        "what was written before the failure checks clean: " + check.stdout() + check.stderr());
  }

  private static void writePattern(RandomAccessFile f, long offset, int length, int value)
      throws IOException {
    byte[] b = new byte[length];
    java.util.Arrays.fill(b, (byte) value);
    f.seek(offset);
    f.write(b);
  }
}
