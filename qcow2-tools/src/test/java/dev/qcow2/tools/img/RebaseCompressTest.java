package dev.qcow2.tools.img;

import static dev.qcow2.testing.QemuAssert.assertClean;
import static dev.qcow2.testing.QemuAssert.assertSameDisk;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code qcow2 rebase -c}, qemu 8.2's compressed rebase (qemu's iotests 314 and 271 are the model):
 * the overlay passes qemu-img check, reads as it did before (qemu-img compare against a raw copy
 * made first), and the clusters the rebase copied are compressed, as qemu-img check counts them
 * ("compressed-clusters") and as our map flags them. qemu-img 7.2 has no -c, so its words for the
 * bad inputs come from qemu's source (img_rebase) and its iotest 314's expected output.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RebaseCompressTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int CLUSTERS_PER_MIB = 16; // 64 KiB clusters

  @TempDir Path dir;

  /**
   * Runs qcow2 with {@code args}, the last being an image of the test folder; other names (a
   * backing file's) stay as given, relative to the image as qemu-img takes them.
   */
  private Cli.Result qcow2(String... args) {
    String[] all = QemuParity.prepend("qcow2", args);
    all[all.length - 1] = dir.resolve(all[all.length - 1]).toString();
    return Cli.run(all);
  }

  private void rebase(String... args) {
    List<String> all = new ArrayList<>(List.of("rebase"));
    all.addAll(List.of(args));
    Cli.Result r = qcow2(all.toArray(new String[0]));
    assertEquals(0, r.exitCode(), r.stderr());
    assertEquals("", r.stdout() + r.stderr());
  }

  /** A qemu-made base.qcow2 of {@code size} with one qemu-io write. */
  private void base(String size, String write) {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "base.qcow2", size);
    Qemu.io(dir, "base.qcow2", write);
  }

  /** A qemu-made overlay {@code name} of {@code backing}, with any more creation options. */
  private void overlay(String name, String backing, String backingFormat, String... options) {
    String all = "backing_file=" + backing + ",backing_fmt=" + backingFormat;
    for (String o : options) {
      all += "," + o;
    }
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", all, name);
  }

  /** qemu-img check's JSON report of {@code image}, which must be clean. */
  private JsonNode check(String image) throws IOException {
    assertClean(dir, image);
    return JSON.readTree(Qemu.img(dir, "check", "--output=json", image));
  }

  private void assertCompressedClusters(long expected, String image) throws IOException {
    assertEquals(expected, check(image).path("compressed-clusters").asLong(), image);
  }

  /** Our map of {@code image}: start+length, depth and kind of each run. */
  private List<String> map(String image) {
    Cli.Result r = qcow2("map", "--output=json", image);
    assertEquals(0, r.exitCode(), r.stderr());
    return MapJson.entries(r.stdout()).stream().map(RebaseCompressTest::describe).toList();
  }

  private static String describe(MapJson.Entry e) {
    String l = e.line();
    String kind =
        e.compressed()
            ? "compressed"
            : l.contains("\"data\": true")
                ? "plain"
                : l.contains("\"present\": true") ? "zero" : "hole";
    return l.replaceAll(
            ".*\"start\": (\\d+), \"length\": (\\d+), \"depth\": (\\d+),.*", "$1+$2 @$3 ")
        + kind;
  }

  /** iotest 314, case 2: flattening copies the whole backing file, every copied cluster packed. */
  @ParameterizedTest(name = "made by {0}")
  @ValueSource(strings = {"qemu-img", "qcow2"})
  void flatteningCompressesEveryCopiedCluster(String maker) throws IOException {
    base("4M", "write -P 0xaa 0 2M");
    if (maker.equals("qemu-img")) {
      overlay("top.qcow2", "base.qcow2", "qcow2");
    } else {
      assertEquals(
          0,
          qcow2("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2")
              .exitCode());
    }
    Qemu.io(dir, "top.qcow2", "write -P 0xbb 2M 2M");
    Qemu.toRaw(dir, "top.qcow2", "before.raw");

    rebase("-c", "-b", "", "top.qcow2");

    assertSameDisk(dir, "top.qcow2", "before.raw");
    assertTrue(!Qemu.img(dir, "info", "top.qcow2").contains("backing file"));
    assertCompressedClusters(2 * CLUSTERS_PER_MIB, "top.qcow2");
    assertEquals(List.of("0+2097152 @0 compressed", "2097152+2097152 @0 plain"), map("top.qcow2"));
  }

  /** iotest 314, case 3: data copied from a raw backing file ends up compressed too. */
  @Test
  void dataFromARawBackingFileIsCompressed() throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "raw", "base.raw", "3M");
    Qemu.run(dir, "qemu-io", "-f", "raw", "-c", "write -P 0x33 0 3M", "base.raw");
    overlay("top.qcow2", "base.raw", "raw");
    Qemu.io(dir, "top.qcow2", "write -P 0x44 1M 64k");
    Qemu.toRaw(dir, "top.qcow2", "before.raw");

    rebase("-c", "-b", "", "top.qcow2");

    assertSameDisk(dir, "top.qcow2", "before.raw");
    assertCompressedClusters(3 * CLUSTERS_PER_MIB - 1, "top.qcow2");
  }

  /**
   * iotest 314, case 4: dropping the middle image of a chain copies only what it held; what the
   * base holds stays below, and what the top held stays as it was (plain).
   */
  @Test
  void droppingADeltaCompressesOnlyItsClusters() throws IOException {
    base("3M", "write -P 0x11 0 1M");
    overlay("mid.qcow2", "base.qcow2", "qcow2");
    Qemu.io(dir, "mid.qcow2", "write -P 0x22 1M 1M");
    overlay("top.qcow2", "mid.qcow2", "qcow2");
    Qemu.io(dir, "top.qcow2", "write -P 0x33 2M 1M");
    Qemu.toRaw(dir, "top.qcow2", "before.raw");

    rebase("-c", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");

    assertSameDisk(dir, "top.qcow2", "before.raw");
    assertTrue(Qemu.img(dir, "info", "top.qcow2").contains("backing file: base.qcow2\n"));
    assertCompressedClusters(CLUSTERS_PER_MIB, "top.qcow2");
    assertEquals(
        List.of("0+1048576 @1 plain", "1048576+1048576 @0 compressed", "2097152+1048576 @0 plain"),
        map("top.qcow2"));
  }

  /**
   * Only clusters that differ between the old and the new backing file are copied; a cluster that
   * does not shrink is stored plainly (qemu's compressed write falls back so too), one that reads
   * as zeros becomes a zero cluster, and the disk's last, short cluster is compressed too.
   */
  @Test
  void onlyDifferingClustersAreCopiedAndIncompressibleOnesStayPlain() throws IOException {
    int size = (2 << 20) + 4096; // a short last cluster
    byte[] old = new byte[size];
    Arrays.fill(old, 0, 1 << 20, (byte) 0x55); // the same in the new base: kept below
    Arrays.fill(old, 1 << 20, (1 << 20) + (128 << 10), (byte) 0x66); // copied, packed
    byte[] noise = new byte[128 << 10];
    new Random(19).nextBytes(noise);
    System.arraycopy(noise, 0, old, 1600 << 10, noise.length); // copied, does not shrink
    Arrays.fill(old, 2 << 20, size, (byte) 0x77); // copied, the short last cluster
    Files.write(dir.resolve("old.raw"), old);
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "new.qcow2", Integer.toString(size));
    // 1280k..1344k: zeros in the old base, data in the new one: copied, compressed.
    Qemu.io(dir, "new.qcow2", "write -P 0x55 0 1M", "write -P 0x99 1280k 64k");
    overlay("top.qcow2", "old.raw", "raw");
    Qemu.io(dir, "top.qcow2", "write -P 0x12 1536k 64k");
    Qemu.toRaw(dir, "top.qcow2", "before.raw");

    rebase("-c", "-b", "new.qcow2", "-F", "qcow2", "top.qcow2");

    assertSameDisk(dir, "top.qcow2", "before.raw");
    assertCompressedClusters(4, "top.qcow2");
    List<String> map = map("top.qcow2");
    for (String run :
        List.of(
            "0+1048576 @1 plain",
            "1048576+131072 @0 compressed",
            "1179648+131072 @1 hole",
            "1310720+65536 @0 compressed",
            "1376256+196608 @1 hole",
            "2097152+4096 @0 compressed")) {
      assertTrue(map.contains(run), run + " in " + map);
    }
    assertTrue(map.stream().noneMatch(r -> r.startsWith("1638400+") && r.endsWith("compressed")));
  }

  /** iotest 271: with subclusters, the whole cluster around a copied subcluster is compressed. */
  @Test
  void aCopiedSubclusterMakesItsWholeClusterCompressed() throws IOException {
    base("1M", "write -P 0xa1 0 1M");
    overlay("top.qcow2", "base.qcow2", "qcow2", "extended_l2=on,cluster_size=64k");
    Qemu.io(dir, "top.qcow2", "write -P 0xb2 4k 2k", "write -P 0xc3 128k 64k");
    Qemu.toRaw(dir, "top.qcow2", "before.raw");

    rebase("-c", "-b", "", "top.qcow2");

    assertSameDisk(dir, "top.qcow2", "before.raw");
    // 16 clusters: one plain (written whole before), fifteen compressed, the partly written first
    // one among them.
    assertCompressedClusters(15, "top.qcow2");
  }

  @ParameterizedTest
  @ValueSource(strings = {"zlib", "zstd"})
  void compressesWithTheImagesCompressionType(String type) throws IOException {
    base("1M", "write -P 0xd4 0 1M");
    overlay("top.qcow2", "base.qcow2", "qcow2", "compression_type=" + type);
    Qemu.toRaw(dir, "top.qcow2", "before.raw");
    rebase("-c", "-b", "", "top.qcow2");
    assertSameDisk(dir, "top.qcow2", "before.raw");
    assertCompressedClusters(CLUSTERS_PER_MIB, "top.qcow2");
    assertTrue(
        Qemu.img(dir, "info", "top.qcow2").contains("compression type: " + type + "\n"), type);
  }

  /**
   * qemu-img accepts -c with -u (img_rebase has no check for the pair): unsafe mode copies nothing,
   * so nothing is compressed and only the name changes.
   */
  @Test
  void compressWithUnsafeOnlyRenamesAsQemuImgDoes() throws IOException {
    base("1M", "write -P 0xe5 0 1M");
    overlay("top.qcow2", "base.qcow2", "qcow2");
    Qemu.io(dir, "top.qcow2", "write -P 0xf6 0 64k");
    Files.copy(dir.resolve("base.qcow2"), dir.resolve("copy.qcow2"));
    Qemu.toRaw(dir, "top.qcow2", "before.raw");
    byte[] base = Files.readAllBytes(dir.resolve("base.qcow2"));

    rebase("-c", "-u", "-b", "copy.qcow2", "-F", "qcow2", "top.qcow2");

    assertTrue(Qemu.img(dir, "info", "top.qcow2").contains("backing file: copy.qcow2\n"));
    assertSameDisk(dir, "top.qcow2", "before.raw");
    assertTrue(check("top.qcow2").path("compressed-clusters").isMissingNode());
    assertEquals(List.of("0+65536 @0 plain", "65536+983040 @1 plain"), map("top.qcow2"));
    assertArrayEquals(base, Files.readAllBytes(dir.resolve("base.qcow2")));
  }

  /**
   * An image whose data lives in an external data file cannot hold compressed clusters: qemu fails
   * the first compressed write (qcow2_co_pwritev_compressed_part returns -ENOTSUP for a data file;
   * img_rebase then says "Error while writing to COW image: Operation not supported"). We refuse at
   * the same point, before anything is written, naming the reason; the disk still reads as before.
   */
  @Test
  void anExternalDataFileCannotTakeCompressedClusters() throws IOException {
    base("1M", "write -P 0x5c 0 1M");
    overlay("top.qcow2", "base.qcow2", "qcow2", "data_file=top.data");
    Qemu.io(dir, "top.qcow2", "write -P 0x6d 512k 64k");
    Qemu.toRaw(dir, "top.qcow2", "before.raw");
    byte[] image = Files.readAllBytes(dir.resolve("top.qcow2"));
    byte[] data = Files.readAllBytes(dir.resolve("top.data"));

    Cli.Result r = qcow2("rebase", "-c", "-b", "", "top.qcow2");

    assertEquals(1, r.exitCode(), r.stdout());
    assertEquals(
        "qcow2: "
            + dir.resolve("top.qcow2")
            + ": compressed clusters cannot go to an external data file\n",
        r.stderr());
    assertArrayEquals(image, Files.readAllBytes(dir.resolve("top.qcow2")));
    assertArrayEquals(data, Files.readAllBytes(dir.resolve("top.data")));
    assertSameDisk(dir, "top.qcow2", "before.raw");
  }

  /**
   * A format that cannot hold compressed clusters: qemu's words ("Compression not supported for
   * this file format", img_rebase; iotest 314 checks -f raw), before anything is written.
   */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"-f raw on a qcow2 image", "a raw image", "a raw image, -u"})
  void aFormatThatCannotCompressIsRefusedInQemusWords(String what) throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "base.qcow2", "1M");
    Qemu.img(dir, "create", "-q", "-f", "raw", "img.raw", "1M");
    overlay("top.qcow2", "base.qcow2", "qcow2");
    List<String> args = new ArrayList<>(List.of("rebase", "-c", "-b", "base.qcow2"));
    if (what.endsWith("-u")) {
      args.add("-u");
    }
    if (what.startsWith("-f raw")) {
      args.addAll(List.of("-f", "raw", "top.qcow2"));
    } else {
      args.add("img.raw");
    }
    String target = args.get(args.size() - 1);
    byte[] before = Files.readAllBytes(dir.resolve(target));
    Cli.Result r = qcow2(args.toArray(new String[0]));
    assertEquals(1, r.exitCode(), r.stdout());
    assertEquals("qcow2: Compression not supported for this file format\n", r.stderr());
    assertEquals("", r.stdout());
    assertArrayEquals(before, Files.readAllBytes(dir.resolve(target)));
  }
}
