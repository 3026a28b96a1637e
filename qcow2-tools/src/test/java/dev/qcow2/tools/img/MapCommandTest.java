package dev.qcow2.tools.img;

import static dev.qcow2.tools.img.QemuParity.assertSameFailure;
import static dev.qcow2.tools.img.QemuParity.assertSameOutput;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code qcow2 map} prints exactly what qemu-img 7.2's map prints, plus qemu 8.2's "compressed"
 * field in the JSON form (checked by {@link MapJson}).
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class MapCommandTest {
  @TempDir Path dir;

  private String assertMapLikeQemu(String image) {
    assertSameOutput(dir, "map", image);
    return MapJson.assertLikeQemu(dir, "map", "--output=json", image);
  }

  @ParameterizedTest(name = "compat {0}, cluster size {1}")
  @CsvSource({
    "0.10, 512",
    "0.10, 4096",
    "0.10, 65536",
    "0.10, 2097152",
    "1.1, 512",
    "1.1, 4096",
    "1.1, 65536",
    "1.1, 2097152"
  })
  void should_match_qemu_for_v2_and_v3_at_every_cluster_size(String compat, int clusterSize) {
    String json = assertMapLikeQemu(Recipes.mixed(dir, compat, clusterSize));
    assertTrue(json.startsWith("[{ \"start\": 0, \"length\": "), json);
    assertTrue(json.contains("\"zero\": true"), json);
    assertTrue(json.endsWith("}]\n"), json);
  }

  @ParameterizedTest
  @ValueSource(strings = {"zlib", "zstd"})
  void should_match_qemu_for_compressed_clusters(String compression) {
    String image = Recipes.compressed(dir, compression);
    String json = MapJson.assertLikeQemu(dir, "map", "--output=json", image);
    // Compressed data has no offset.
    assertTrue(
        json.startsWith(
            "[{ \"start\": 0, \"length\": 1048576, \"depth\": 0, \"present\": true, \"zero\": false,"
                + " \"data\": true, \"compressed\": true},\n"),
        json);
  }

  @ParameterizedTest
  @ValueSource(strings = {"zlib", "zstd"})
  void should_fail_like_qemu_for_compressed_clusters_in_human_form(String compression) {
    assertSameFailure(dir, "map", Recipes.compressed(dir, compression));
  }

  @Test
  void should_match_qemu_along_a_chain_with_relative_names_and_a_raw_base() throws Exception {
    String top = Recipes.chain(dir);
    String json = assertMapLikeQemu(top);
    assertTrue(json.contains("\"depth\": 2, \"present\": true"), "reaches the raw base: " + json);
    String human = Cli.run("qcow2", "map", top).stdout();
    assertTrue(human.contains(dir + "/sub/deeper/base.raw\n"), human);
    assertMapLikeQemu(dir.resolve("sub/mid.qcow2").toString());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "--start-offset=1M, ''",
    "--start-offset=1000, --max-length=3000000",
    "-s, 100M",
    "--max-length=0, ''",
    "--start-offset=1536k, --max-length=64k",
    "--start-offset=11M, --max-length=4M",
  })
  void should_honour_start_offset_and_max_length_like_qemu(String a, String b) throws Exception {
    String top = Recipes.chain(dir);
    String[] args =
        b.isEmpty()
            ? new String[] {"map", "--output=json", a, top}
            : new String[] {"map", "--output=json", a, b, top};
    assertTrue(MapJson.assertLikeQemu(dir, args).endsWith("]\n"));
  }

  @Test
  void should_match_qemu_for_snapshots_dirty_and_corrupt_images() throws Exception {
    assertMapLikeQemu(Recipes.snapshotsAndBitmaps(dir));
    assertMapLikeQemu(Recipes.dirty(dir));
    assertMapLikeQemu(Recipes.corrupt(dir));
  }

  @Test
  void should_match_qemu_for_extended_l2_with_whole_clusters() {
    String json = assertMapLikeQemu(Recipes.extendedL2(dir));
    assertTrue(
        json.contains(
            "\"start\": 1048576, \"length\": 65536, \"depth\": 0, \"present\": true,"
                + " \"zero\": true, \"data\": false, \"compressed\": false"),
        json);
  }

  /**
   * qemu reports a host offset for unallocated subclusters of an allocated cluster when nothing
   * lies below them (QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC sets BDRV_BLOCK_OFFSET_VALID), and so
   * splits the run there.
   */
  @Test
  void should_match_qemu_for_extended_l2_with_partial_clusters() {
    assertMapLikeQemu(Recipes.extendedL2Partial(dir));
  }

  /**
   * qemu 7.2 opens a relative data file name against its working folder (the tests run it in the
   * image's folder) and prints the name as stored; the library resolves it against the image's
   * folder, so the human form names the same file by its full path.
   */
  @Test
  void should_map_an_external_data_file_like_qemu() {
    String image = Recipes.dataFile(dir, true);
    String json = MapJson.assertLikeQemu(dir, "map", "--output=json", image);
    // data_file_raw makes qemu preallocate the metadata: one run, mapped 1:1.
    assertEquals(
        "[{ \"start\": 0, \"length\": 4194304, \"depth\": 0, \"present\": true,"
            + " \"zero\": false, \"data\": true, \"compressed\": false, \"offset\": 0}]\n",
        json);
    String expected = Qemu.img(dir, "map", image);
    assertTrue(expected.contains("               df.data\n"), expected);
    assertEquals(
        expected.replace("df.data", dir + "/df.data"), Cli.run("qcow2", "map", image).stdout());
  }

  @Test
  void should_map_a_sparse_external_data_file_like_qemu() {
    String json = MapJson.assertLikeQemu(dir, "map", "--output=json", Recipes.dataFile(dir, false));
    assertTrue(
        json.contains(
            "{ \"start\": 1048576, \"length\": 131072, \"depth\": 0, \"present\": true,"
                + " \"zero\": false, \"data\": true, \"compressed\": false, \"offset\": "),
        json);
  }

  @Test
  void should_map_a_raw_file_without_holes_like_qemu() throws Exception {
    Recipes.chain(dir);
    String json = assertMapLikeQemu(dir.resolve("sub/deeper/base.raw").toString());
    assertEquals(
        "[{ \"start\": 0, \"length\": 8388608, \"depth\": 0, \"present\": true,"
            + " \"zero\": false, \"data\": true, \"compressed\": false, \"offset\": 0}]\n",
        json);
  }

  /**
   * A compressed base (by qemu-img convert -c, or by our own convert -c) under an overlay with
   * plain data, zeros and holes: "compressed" is true on exactly the runs of compressed clusters,
   * at either depth, and splits runs as qemu 8.2 does.
   */
  @ParameterizedTest
  @ValueSource(strings = {"qemu-img", "qcow2"})
  void should_flag_compressed_runs_among_plain_zero_unallocated_and_backing_data(String writer) {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "plain.qcow2", "4M");
    Qemu.io(dir, "plain.qcow2", "write -P 0x5a 0 1M", "write -P 0x33 2M 1M");
    String base = dir.resolve("base.qcow2").toString();
    Cli.Result made =
        writer.equals("qemu-img")
            ? new Cli.Result(
                0, Qemu.img(dir, "convert", "-c", "-O", "qcow2", "plain.qcow2", base), "")
            : Cli.run(
                "qcow2",
                "convert",
                "-c",
                "-O",
                "qcow2",
                dir.resolve("plain.qcow2").toString(),
                base);
    assertEquals(0, made.exitCode(), made.stderr());
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");
    Qemu.io(dir, "top.qcow2", "write -P 1 256k 64k", "write -z 512k 64k", "write -P 2 3584k 64k");
    String top = dir.resolve("top.qcow2").toString();
    assertSameFailure(dir, "map", top);
    List<MapJson.Entry> entries =
        MapJson.entries(MapJson.assertLikeQemu(dir, "map", "--output=json", top));
    assertEquals(
        List.of(
            "0+262144 depth 1 compressed",
            "262144+65536 depth 0 plain",
            "327680+196608 depth 1 compressed",
            "524288+65536 depth 0 zero",
            "589824+458752 depth 1 compressed",
            "1048576+1048576 depth 1 hole",
            "2097152+1048576 depth 1 compressed",
            "3145728+524288 depth 1 hole",
            "3670016+65536 depth 0 plain",
            "3735552+458752 depth 1 hole"),
        entries.stream().map(MapCommandTest::describe).toList());
  }

  private static String describe(MapJson.Entry e) {
    String l = e.line();
    long start = Long.parseLong(l.replaceAll(".*\"start\": (\\d+),.*", "$1"));
    long length = Long.parseLong(l.replaceAll(".*\"length\": (\\d+),.*", "$1"));
    String depth = l.replaceAll(".*\"depth\": (\\d+),.*", "$1");
    String kind =
        e.compressed()
            ? "compressed"
            : l.contains("\"zero\": true, \"data\": false") && l.contains("\"present\": true")
                ? "zero"
                : l.contains("\"data\": true") ? "plain" : "hole";
    return start + "+" + length + " depth " + depth + " " + kind;
  }
}
