package dev.qcow2.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qcow2.CompressionType;
import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The convert engine's options, each proven with qemu-img: check finds nothing, compare finds the
 * source's content, map shows what was (and was not) written.
 */
class ConvertTest {
  @TempDir Path dir;

  @ParameterizedTest(name = "{0}, cluster {1}, {2} threads, out of order {3}")
  @CsvSource({
    "zlib, 65536, 2, false",
    "zlib, 512, 2, true",
    "zlib, 4096, 1, false",
    "zlib, 2097152, 2, false",
    "zstd, 65536, 2, true",
    "zstd, 512, 1, false",
    "zstd, 2097152, 2, false",
    "zlib, 16384, 2, false"
  })
  void compressedTargetReadsBackInQemuAndIsAsSmallAsQemus(
      String codec, int clusterSize, int threads, boolean outOfOrder) throws Exception {
    // An odd size, so the last cluster is short and padded before compression.
    TestData.writeRaw(dir.resolve("src.raw"), (12L << 20) + 3 * 512, clusterSize);
    // Incompressible clusters must be stored plainly.
    try (RandomAccessFile f = new RandomAccessFile(dir.resolve("src.raw").toFile(), "rw")) {
      byte[] noise = new byte[Math.max(256 << 10, 2 * clusterSize)];
      new Random(clusterSize).nextBytes(noise);
      f.seek(4L << 20);
      f.write(noise);
    }
    CreateOptions create =
        CreateOptions.builder(0)
            .clusterSize(clusterSize)
            .compressionType(codec.equals("zstd") ? CompressionType.ZSTD : CompressionType.ZLIB)
            .build();
    try (DiskImage src = DiskImage.open(dir.resolve("src.raw"))) {
      long[] last = {0};
      ImageConverter.convert(
          src,
          dir.resolve("out.qcow2"),
          ConvertOptions.builder()
              .targetFormat("qcow2")
              .createOptions(create)
              .compress(true)
              .threads(threads)
              .outOfOrder(outOfOrder)
              .progress(d -> last[0] = d)
              .build());
      assertEquals(src.size(), last[0], "progress reaches the end");
    }
    assertCheckedAndEqual("src.raw", "out.qcow2");
    Qemu.img(
        dir,
        "convert",
        "-c",
        "-O",
        "qcow2",
        "-o",
        "cluster_size=" + clusterSize + ",compression_type=" + codec,
        "src.raw",
        "qemu.qcow2");
    long ours = Files.size(dir.resolve("out.qcow2"));
    long theirs = Files.size(dir.resolve("qemu.qcow2"));
    assertTrue(ours <= theirs * 1.02, "ours " + ours + " bytes, qemu-img's " + theirs);
    boolean sawCompressed = false;
    boolean sawPlain = false;
    for (JsonNode e : map("out.qcow2")) {
      if (e.get("data").asBoolean()) {
        // qemu-img 7.2's map gives no offset for compressed data.
        sawCompressed |= !e.has("offset");
        sawPlain |= e.has("offset");
      }
    }
    assertTrue(sawCompressed, "words compress");
    assertTrue(sawPlain, "noise is stored uncompressed");
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"raw source", "qcow2 source on the same base", "compressed delta"})
  void deltaAgainstBackingHoldsOnlyTheDifferingClusters(String kind) throws Exception {
    TestData.writeRaw(dir.resolve("base.raw"), 8L << 20, 7);
    Qemu.img(dir, "convert", "-O", "qcow2", "base.raw", "base.qcow2");
    // The new disk: the base with two changed clusters, one zeroed cluster, and 1 MiB more at the
    // end.
    Qemu.img(
        dir, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "ov.qcow2", "9M");
    Qemu.io(
        dir,
        "ov.qcow2",
        "write -P 1 65536 1",
        "write -P 2 4M 65536",
        "write -z 6M 64k",
        "write -P 3 8M 4096");
    Qemu.img(dir, "convert", "-O", "raw", "ov.qcow2", "new.raw");
    String source = "new.raw";
    if (!kind.equals("raw source")) {
      // An overlay that holds every cluster, most of them equal to the base's: only content tells.
      Qemu.img(
          dir,
          "create",
          "-q",
          "-f",
          "qcow2",
          "-b",
          "base.qcow2",
          "-F",
          "qcow2",
          "full.qcow2",
          "9M");
      Qemu.img(dir, "convert", "-n", "-O", "qcow2", "new.raw", "full.qcow2");
      source = "full.qcow2";
    }
    ConvertOptions.Builder o =
        ConvertOptions.builder().targetFormat("qcow2").backing("base.qcow2", "qcow2");
    if (kind.equals("compressed delta")) {
      o.compress(true).outOfOrder(true);
    }
    try (DiskImage src = DiskImage.open(dir.resolve(source))) {
      ImageConverter.convert(src, dir.resolve("delta.qcow2"), o.build());
    }
    assertCheckedAndEqual("new.raw", "delta.qcow2");
    List<String> stored = new ArrayList<>();
    for (JsonNode e : map("delta.qcow2")) {
      if (e.get("depth").asInt() == 0 && e.get("present").asBoolean()) {
        stored.add(
            e.get("start").asLong()
                + "+"
                + e.get("length").asLong()
                + (e.get("data").asBoolean() ? "" : " zero"));
      }
    }
    // 64 KiB around offset 65536, 4M, the zeroed 6M, and 8M..9M where only 4 KiB is data (the rest
    // lies past the base's end and reads zeros already).
    assertEquals(
        List.of("65536+65536", "4194304+65536", "6291456+65536 zero", "8388608+65536"), stored);
  }

  @Test
  void noCreateOverwritesAnExistingTargetUnlessToldItIsZero() throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "src.qcow2", "4M");
    Qemu.io(dir, "src.qcow2", "write -P 5 1M 64k");
    for (String target : new String[] {"t.raw", "t.qcow2"}) {
      String format = target.endsWith("raw") ? "raw" : "qcow2";
      Qemu.img(dir, "create", "-q", "-f", format, target, "4M");
      Qemu.exec(dir, List.of("qemu-io", "-f", format, "-c", "write -P 9 0 4M", target));
      try (DiskImage src = DiskImage.open(dir.resolve("src.qcow2"))) {
        ImageConverter.convert(
            src,
            dir.resolve(target),
            ConvertOptions.builder().targetFormat(format).noCreate(true).build());
      }
      Qemu.Result same = Qemu.exec(dir, List.of("qemu-img", "compare", "src.qcow2", target));
      assertEquals(0, same.exitCode(), target + ": " + same.stdout() + same.stderr());
      // Told the target reads zeros when it does not: the old bytes show through, as in qemu-img.
      Qemu.exec(dir, List.of("qemu-io", "-f", format, "-c", "write -P 9 0 4M", target));
      try (DiskImage src = DiskImage.open(dir.resolve("src.qcow2"))) {
        ImageConverter.convert(
            src,
            dir.resolve(target),
            ConvertOptions.builder()
                .targetFormat(format)
                .noCreate(true)
                .targetIsZero(true)
                .build());
      }
      Qemu.Result differs = Qemu.exec(dir, List.of("qemu-img", "compare", "src.qcow2", target));
      assertEquals(1, differs.exitCode(), target + ": " + differs.stdout());
    }
    assertThrows(
        IllegalArgumentException.class, () -> ConvertOptions.builder().targetIsZero(true).build());
  }

  @Test
  void sparseSizeZeroAllocatesEverything() throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "src.qcow2", "2M");
    Qemu.io(dir, "src.qcow2", "write -P 5 1M 64k");
    try (DiskImage src = DiskImage.open(dir.resolve("src.qcow2"))) {
      ImageConverter.convert(
          src,
          dir.resolve("full.qcow2"),
          ConvertOptions.builder().targetFormat("qcow2").minSparse(0).build());
      ImageConverter.convert(
          src, dir.resolve("sparse.qcow2"), ConvertOptions.builder().targetFormat("qcow2").build());
    }
    assertCheckedAndEqual("src.qcow2", "full.qcow2");
    assertCheckedAndEqual("src.qcow2", "sparse.qcow2");
    List<JsonNode> full = map("full.qcow2");
    assertEquals(1, full.size(), full.toString());
    assertTrue(full.get(0).get("data").asBoolean());
    assertEquals(3, map("sparse.qcow2").size(), "zeros, data, zeros");
    assertThrows(IllegalArgumentException.class, () -> ConvertOptions.builder().minSparse(1000));
  }

  @Test
  void rawOptionsOnlyGoWithQcow2Targets() {
    assertThrows(
        IllegalArgumentException.class, () -> ConvertOptions.builder().compress(true).build());
    assertThrows(
        IllegalArgumentException.class, () -> ConvertOptions.builder().backing("b", null).build());
    assertThrows(
        IllegalArgumentException.class, () -> ConvertOptions.builder().targetFormat("vmdk"));
    assertFalse(ConvertOptions.builder().build().compress());
  }

  private void assertCheckedAndEqual(String source, String target) {
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", target));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    assertTrue(check.stdout().contains("No errors were found"), check.stdout());
    Qemu.Result compare = Qemu.exec(dir, List.of("qemu-img", "compare", source, target));
    assertEquals(0, compare.exitCode(), compare.stdout() + compare.stderr());
  }

  private List<JsonNode> map(String image) throws IOException {
    JsonNode root = new ObjectMapper().readTree(Qemu.img(dir, "map", "--output=json", image));
    List<JsonNode> list = new ArrayList<>();
    root.forEach(list::add);
    return list;
  }
}
