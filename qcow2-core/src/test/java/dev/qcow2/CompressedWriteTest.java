package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every cluster of realistic data written compressed by us must read back through qemu: qemu
 * inflates "zlib" clusters with a 4 KiB window while the JDK's Deflater uses 32 KiB, so this proves
 * at every cluster size that qemu accepts our streams. The data mixes text, random bytes and zeros,
 * so matches reach far back and compressed sizes are odd.
 */
class CompressedWriteTest {

  static Stream<Arguments> cases() {
    List<Arguments> list = new ArrayList<>();
    for (CompressionType type : CompressionType.values()) {
      for (int cs : new int[] {512, 1024, 4096, 16384, 65536, 1 << 20, 2 << 20}) {
        list.add(Arguments.of(type, cs));
      }
    }
    return list.stream();
  }

  @ParameterizedTest(name = "{0} cluster={1}")
  @MethodSource("cases")
  void qemuReadsEveryClusterWeCompressed(CompressionType type, int clusterSize, @TempDir Path dir)
      throws IOException {
    long size = clusterSize >= (1 << 20) ? 24L << 20 : 6L << 20;
    Path src = dir.resolve("src.raw");
    TestData.writeRaw(src, size, clusterSize * 31L + type.ordinal());
    CreateOptions options =
        CreateOptions.builder(size).clusterSize(clusterSize).compressionType(type).build();
    int compressedClusters = 0;
    try (Qcow2Image img = Qcow2Image.create(dir.resolve("c.qcow2"), options);
        FileChannel in = FileChannel.open(src)) {
      ByteBuffer cluster = ByteBuffer.allocate(clusterSize);
      for (long at = 0; at < size; at += clusterSize) {
        cluster.clear();
        in.read(cluster, at);
        cluster.flip();
        if (!ImageConverterSupport.isZero(cluster)) {
          img.writeCompressed(cluster, at);
          compressedClusters++;
        }
      }
    }
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "c.qcow2"));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    assertTrue(check.stdout().contains("No errors were found"), check.stdout());
    assertTrue(check.stdout().contains("compressed clusters"), check.stdout());
    Qemu.Result compare =
        Qemu.exec(
            dir, List.of("qemu-img", "compare", "-f", "raw", "-F", "qcow2", "src.raw", "c.qcow2"));
    assertEquals(0, compare.exitCode(), compare.stdout() + compare.stderr());
    assertTrue(compressedClusters > 0);
    // Ours against qemu's own compression of the same data, for the record.
    Qemu.img(
        dir,
        "convert",
        "-c",
        "-O",
        "qcow2",
        "-o",
        "cluster_size=" + clusterSize + ",compression_type=" + type.qemuName(),
        "src.raw",
        "q.qcow2");
    System.out.printf(
        "%s cluster=%d: ours %d bytes, qemu-img %d bytes%n",
        type, clusterSize, Files.size(dir.resolve("c.qcow2")), Files.size(dir.resolve("q.qcow2")));
  }

  /** The zero test the converter uses, kept here so the test stands on the public API alone. */
  static final class ImageConverterSupport {
    static boolean isZero(ByteBuffer b) {
      for (int i = b.position(); i < b.limit(); i++) {
        if (b.get(i) != 0) {
          return false;
        }
      }
      return true;
    }
  }
}
