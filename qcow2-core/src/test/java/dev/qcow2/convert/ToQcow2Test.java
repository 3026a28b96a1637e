package dev.qcow2.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.io.TempDir;

/** Converting to qcow2 through our writer: qemu-img check finds nothing and the content is equal. */
class ToQcow2Test {

  @ParameterizedTest(name = "{0} -> cluster {1}, {2} threads")
  @CsvSource({"raw, 65536, 2", "raw, 4096, 1", "zlib, 65536, 2", "zstd, 2097152, 2", "raw, 512, 2"})
  void convertedImageEqualsItsSource(String source, int clusterSize, int threads, @TempDir Path dir) throws IOException {
    TestData.writeRaw(dir.resolve("src.raw"), 20L << 20, clusterSize);
    String input = "src.raw";
    if (!source.equals("raw")) {
      Qemu.img(dir, "convert", "-c", "-O", "qcow2", "-o", "compression_type=" + source, "src.raw", "src.qcow2");
      input = "src.qcow2";
    }
    try (DiskImage src = DiskImage.open(dir.resolve(input))) {
      long[] last = {0};
      ImageConverter.toQcow2(src, dir.resolve("out.qcow2"), CreateOptions.builder(0).clusterSize(clusterSize).build(),
          threads, done -> last[0] = done);
      assertEquals(src.size(), last[0], "progress reaches the end");
    }
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "out.qcow2"));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    assertTrue(check.stdout().contains("No errors were found"), check.stdout());
    Qemu.Result compare = Qemu.exec(dir, List.of("qemu-img", "compare", input, "out.qcow2"));
    assertEquals(0, compare.exitCode(), compare.stdout() + compare.stderr());
  }
}
