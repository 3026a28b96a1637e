package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.qcow2.testing.Qemu;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link CreateOptions#build()} against qemu-img 7.2's create: for random combinations of the
 * options, both accept, or both refuse with the same first message, so that the tools can show the
 * library's message as qemu-img's.
 */
@Timeout(300)
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class CreateOptionsTest {
  private static final int[] CLUSTER_SIZES = {256, 512, 3000, 4096, 16384, 65536, 2 << 20, 4 << 20};
  private static final int[] REFCOUNT_BITS = {0, 1, 3, 8, 16, 64, 128};
  private static final long[] SIZES = {
    1 << 20, 128L << 30, (128L << 30) + 512, 64L << 40, 1L << 60
  };

  @TempDir Path dir;

  @Test
  void refuses_what_qemu_img_create_refuses_with_its_first_message() throws Exception {
    long seed = Long.getLong("qcow2.seed", 0x0c4ea7eL);
    Random r = new Random(seed);
    for (int i = 0; i < 150; i++) {
      Case c = Case.random(r);
      try {
        assertSameVerdict(c);
      } catch (AssertionError e) {
        throw new AssertionError(
            "seed "
                + seed
                + " (replay with -Dqcow2.seed="
                + seed
                + "), case "
                + i
                + ": "
                + c.qemuOptions()
                + " size "
                + c.size
                + ": "
                + e.getMessage(),
            e);
      }
    }
  }

  @Test
  void the_l1_limit_is_qemus_32_mib_table() {
    // 512-byte clusters: one L2 table maps 32 KiB, so 4 Mi L1 entries map exactly 128 GiB.
    assertEquals(128L << 30, CreateOptions.builder(128L << 30).clusterSize(512).build().size());
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> CreateOptions.builder((128L << 30) + 512).clusterSize(512).build());
    assertEquals(
        "The image size is too large for file format 'qcow2' (try using a larger cluster size)",
        e.getMessage());
    // Extended L2 entries are twice as wide, so a table maps half as much.
    assertThrows(
        IllegalArgumentException.class,
        () -> CreateOptions.builder((64L << 40) + 512).clusterSize(16384).extendedL2(true).build());
    CreateOptions.builder(64L << 40).clusterSize(16384).extendedL2(true).build();
  }

  @Test
  void a_backing_format_or_a_raw_data_file_needs_its_file() {
    assertEquals(
        "Backing format cannot be used without backing file",
        assertThrows(
                IllegalArgumentException.class,
                () -> CreateOptions.builder(0).backingFile(null, "raw").build())
            .getMessage());
    assertEquals(
        "data-file-raw requires data-file",
        assertThrows(
                IllegalArgumentException.class,
                () -> CreateOptions.builder(0).dataFile(null, true).build())
            .getMessage());
    assertEquals(
        "backing format 'vmdk' is not supported (only qcow2 and raw)",
        assertThrows(
                IllegalArgumentException.class,
                () -> CreateOptions.builder(0).backingFile("b.vmdk", "vmdk").build())
            .getMessage());
  }

  private void assertSameVerdict(Case c) throws Exception {
    String ours;
    try {
      c.builder().build();
      ours = null;
    } catch (IllegalArgumentException e) {
      ours = e.getMessage();
    }
    Path image = dir.resolve("t.qcow2");
    Qemu.Result q =
        Qemu.exec(
            dir,
            List.of(
                "qemu-img",
                "create",
                "-q",
                "-u",
                "-f",
                "qcow2",
                "-o",
                c.qemuOptions(),
                image.toString(),
                Long.toString(c.size)));
    try (Stream<Path> files = Files.list(dir)) {
      for (Path p : files.toList()) {
        Files.delete(p);
      }
    }
    if (q.exitCode() == 0) {
      assertEquals(null, ours, "qemu-img accepts it");
    } else {
      assertEquals(q.stderr(), "qemu-img: " + image + ": " + ours + "\n", "qemu-img refuses it");
    }
  }

  /** One combination of create options, as the builder takes them and as qemu-img's -o. */
  private record Case(
      int version,
      int clusterSize,
      int refcountBits,
      boolean lazy,
      boolean extendedL2,
      boolean zstd,
      boolean metadata,
      String backing,
      String backingFormat,
      String dataFile,
      boolean dataFileRaw,
      long size) {
    static Case random(Random r) {
      boolean small = r.nextInt(3) == 0;
      // Preallocation is only drawn for small disks: metadata for a huge one takes qemu a while.
      boolean metadata = small && r.nextInt(3) == 0;
      boolean backing = r.nextInt(3) == 0;
      long size = small ? 1 << 20 : SIZES[r.nextInt(SIZES.length)];
      // A data file is as long as the disk, and host file systems have their own limit (16 TiB on
      // ext4), which qemu reports in the same words as its L1 limit.
      boolean dataFile = size < (1L << 40) && r.nextInt(4) == 0;
      return new Case(
          r.nextInt(3) == 0 ? 2 : 3,
          r.nextInt(3) == 0 ? CLUSTER_SIZES[r.nextInt(CLUSTER_SIZES.length)] : 65536,
          r.nextInt(3) == 0 ? REFCOUNT_BITS[r.nextInt(REFCOUNT_BITS.length)] : 16,
          r.nextInt(4) == 0,
          r.nextInt(4) == 0,
          r.nextInt(4) == 0,
          metadata,
          backing ? "b.raw" : null,
          backing || r.nextInt(8) == 0 ? "raw" : null,
          dataFile ? "d.data" : null,
          r.nextInt(4) == 0,
          size);
    }

    CreateOptions.Builder builder() {
      return CreateOptions.builder(size)
          .version(version)
          .clusterSize(clusterSize)
          .refcountBits(refcountBits)
          .lazyRefcounts(lazy)
          .extendedL2(extendedL2)
          .compressionType(zstd ? CompressionType.ZSTD : CompressionType.ZLIB)
          .preallocation(
              metadata ? CreateOptions.Preallocation.METADATA : CreateOptions.Preallocation.OFF)
          .backingFile(backing, backingFormat)
          .dataFile(dataFile, dataFileRaw);
    }

    String qemuOptions() {
      List<String> o =
          new ArrayList<>(
              List.of(
                  "compat=" + (version == 2 ? "0.10" : "1.1"),
                  "cluster_size=" + clusterSize,
                  "refcount_bits=" + refcountBits,
                  "lazy_refcounts=" + (lazy ? "on" : "off"),
                  "extended_l2=" + (extendedL2 ? "on" : "off"),
                  "compression_type=" + (zstd ? "zstd" : "zlib"),
                  "preallocation=" + (metadata ? "metadata" : "off")));
      if (backing != null) {
        o.add("backing_file=" + backing);
      }
      if (backingFormat != null) {
        o.add("backing_fmt=" + backingFormat);
      }
      if (dataFile != null) {
        o.add("data_file=" + dataFile);
      }
      if (dataFileRaw) {
        o.add("data_file_raw=on");
      }
      return String.join(",", o);
    }
  }
}
