package dev.qcow2.tools.img;

import static dev.qcow2.tools.img.QemuParity.assertSameJson;
import static dev.qcow2.tools.img.QemuParity.assertSameOutput;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code qcow2 info} prints what qemu-img 7.2's info prints, in both formats. */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class InfoCommandTest {
  @TempDir Path dir;

  /** Both output formats, alone and with --backing-chain. */
  private void assertInfoLikeQemu(String image) throws Exception {
    assertSameJson(dir, "info", "--output=json", image);
    assertSameJson(dir, "info", "--output=json", "--backing-chain", image);
    assertSameOutput(dir, "info", image);
    assertSameOutput(dir, "info", "--backing-chain", image);
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
  void should_match_qemu_for_v2_and_v3_at_every_cluster_size(String compat, int clusterSize)
      throws Exception {
    String image = Recipes.mixed(dir, compat, clusterSize);
    assertInfoLikeQemu(image);
    String json = Cli.run("qcow2", "info", "--output=json", image).stdout();
    assertTrue(json.contains("\"compat\": \"" + compat + "\""), json);
    assertTrue(json.contains("\"cluster-size\": " + clusterSize + ","), json);
  }

  @ParameterizedTest
  @ValueSource(strings = {"zlib", "zstd"})
  void should_match_qemu_for_compressed_images(String compression) throws Exception {
    String image = Recipes.compressed(dir, compression);
    assertInfoLikeQemu(image);
    assertTrue(
        Cli.run("qcow2", "info", image)
            .stdout()
            .contains("    compression type: " + compression + "\n"));
  }

  @Test
  void should_match_qemu_along_a_chain_with_relative_names_and_a_raw_base() throws Exception {
    String top = Recipes.chain(dir);
    String chain = assertSameJson(dir, "info", "--output=json", "--backing-chain", top);
    assertTrue(
        chain.contains("\"full-backing-filename\": \"" + dir + "/sub/deeper/base.raw\""), chain);
    assertTrue(chain.contains("\"format\": \"raw\""), chain);
    assertInfoLikeQemu(top);
    assertInfoLikeQemu(dir.resolve("sub/mid.qcow2").toString());
    assertInfoLikeQemu(dir.resolve("sub/deeper/base.raw").toString());
  }

  @Test
  void should_show_snapshots_and_bitmaps_as_qemu_does() throws Exception {
    String image = Recipes.snapshotsAndBitmaps(dir);
    assertInfoLikeQemu(image);
    String human = Cli.run("qcow2", "info", image).stdout();
    assertTrue(human.contains("Snapshot list:\nID        TAG "), human);
    assertTrue(human.contains("    bitmaps:\n        [0]:\n            flags:\n"), human);
  }

  @Test
  void should_match_qemu_for_extended_l2() throws Exception {
    assertInfoLikeQemu(Recipes.extendedL2(dir));
  }

  @ParameterizedTest
  @ValueSource(booleans = {true, false})
  void should_match_qemu_for_an_external_data_file(boolean dataFileRaw) throws Exception {
    String image = Recipes.dataFile(dir, dataFileRaw);
    String json = assertSameJson(dir, "info", "--output=json", image);
    assertTrue(json.contains("\"data-file\": \"df.data\""), json);
    assertTrue(json.contains("\"data-file-raw\": " + dataFileRaw), json);
    assertInfoLikeQemu(image);
  }

  @Test
  void should_report_the_dirty_bit() throws Exception {
    String image = Recipes.dirty(dir);
    String json = assertSameJson(dir, "info", "--output=json", image);
    assertTrue(json.contains("\"dirty-flag\": true"), "the recipe must leave the image dirty");
    assertTrue(assertSameOutput(dir, "info", image).contains("cleanly shut down: no\n"));
  }

  @Test
  void should_report_the_corrupt_bit() throws Exception {
    String image = Recipes.corrupt(dir);
    String json = assertSameJson(dir, "info", "--output=json", image);
    assertTrue(json.contains("\"corrupt\": true"), json);
    assertSameOutput(dir, "info", image);
  }

  @Test
  void should_not_need_the_backing_file_unless_asked_for_the_chain() throws Exception {
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-b",
        "gone.qcow2",
        "-F",
        "qcow2",
        "-u",
        "orphan.qcow2",
        "1M");
    String image = dir.resolve("orphan.qcow2").toString();
    String json = assertSameJson(dir, "info", "--output=json", image);
    assertTrue(json.contains("\"backing-filename\": \"gone.qcow2\""), json);
    Cli.Result chain = Cli.run("qcow2", "info", "--backing-chain", image);
    assertEquals(1, chain.exitCode());
    assertEquals(
        "qcow2: Could not open '" + dir + "/gone.qcow2': No such file or directory\n",
        chain.stderr());
  }

  @Test
  void should_read_a_qcow2_file_as_raw_when_told_so() throws Exception {
    String image = Recipes.extendedL2(dir);
    String json = assertSameJson(dir, "info", "--output=json", "-f", "raw", image);
    assertTrue(json.contains("\"format\": \"raw\""), json);
  }

  /**
   * Sizes cross the unit boundaries where size_to_str's rounding and %g rules matter; raw sizes
   * that are not whole sectors show qemu's rounding up to 512 bytes.
   */
  @ParameterizedTest
  @ValueSource(
      longs = {
        0,
        1,
        999,
        1000,
        1023,
        1024,
        1536,
        10189,
        1023488,
        1048064,
        1048576,
        5_000_000,
        1_073_741_823L,
        123_456_789_012L,
        1L << 40
      })
  void should_print_sizes_as_qemu_does(long size) throws Exception {
    Path raw = dir.resolve("size-" + size + ".raw");
    try (RandomAccessFile f = new RandomAccessFile(raw.toFile(), "rw")) {
      f.setLength(size);
    }
    String expected = Qemu.img(dir, "info", raw.toString());
    assertEquals(expected, Cli.run("qcow2", "info", raw.toString()).stdout());
    assertTrue(expected.contains("(" + ((size + 511) / 512 * 512) + " bytes)"), expected);
  }
}
