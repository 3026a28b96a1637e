package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code qcow2 convert -O raw} writes the same bytes as qemu-img convert -O raw; {@code -O qcow2}
 * gives images that qemu finds clean and equal to their source.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class ConvertCommandTest {
  @TempDir Path dir;

  private void assertConvertsLikeQemu(String image, String... options) throws Exception {
    Path expected = Qemu.toRaw(dir, image, "expected.raw");
    Path ours = dir.resolve("ours.raw");
    String[] args = new String[options.length + 6];
    args[0] = "qcow2";
    args[1] = "convert";
    System.arraycopy(options, 0, args, 2, options.length);
    args[options.length + 2] = "-O";
    args[options.length + 3] = "raw";
    args[options.length + 4] = image;
    args[options.length + 5] = ours.toString();
    Cli.Result r = Cli.run(args);
    assertEquals(0, r.exitCode(), r.stderr());
    // -p draws only on a terminal, and tests have none: stdout and stderr stay empty.
    assertEquals("", r.stdout());
    assertEquals("", r.stderr());
    assertArrayEquals(Files.readAllBytes(expected), Files.readAllBytes(ours));
  }

  @ParameterizedTest
  @ValueSource(strings = {"1", "2", "4"})
  void should_write_what_qemu_img_writes_along_a_chain(String threads) throws Exception {
    assertConvertsLikeQemu(Recipes.chain(dir), "-m", threads, "-p");
  }

  @ParameterizedTest
  @ValueSource(strings = {"zlib", "zstd"})
  void should_write_what_qemu_img_writes_for_compressed_images(String compression)
      throws Exception {
    assertConvertsLikeQemu(Recipes.compressed(dir, compression));
  }

  @Test
  void should_refuse_other_output_formats() {
    String image = Recipes.extendedL2(dir);
    Path target = dir.resolve("out.vmdk");
    Cli.Result r = Cli.run("qcow2", "convert", "-O", "vmdk", image, target.toString());
    assertEquals(1, r.exitCode());
    assertEquals("qcow2: only -O raw and -O qcow2 are supported so far\n", r.stderr());
    assertFalse(Files.exists(target));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "cluster_size=65536",
        "cluster_size=4096,refcount_bits=1",
        "compat=0.10",
        "extended_l2=on,cluster_size=128k"
      })
  void should_convert_to_a_qcow2_image_that_qemu_finds_equal_and_clean(String options)
      throws Exception {
    String image = Recipes.chain(dir);
    Path target = dir.resolve("out.qcow2");
    Cli.Result r =
        Cli.run("qcow2", "convert", "-O", "qcow2", "-o", options, image, target.toString());
    assertEquals(0, r.exitCode(), r.stderr());
    Qemu.Result check = Qemu.exec(dir, java.util.List.of("qemu-img", "check", target.toString()));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    Qemu.Result compare =
        Qemu.exec(dir, java.util.List.of("qemu-img", "compare", image, target.toString()));
    assertEquals(0, compare.exitCode(), compare.stdout() + compare.stderr());
  }

  @Test
  void should_refuse_zero_threads() {
    Cli.Result r =
        Cli.run(
            "qcow2",
            "convert",
            "-m",
            "0",
            "-O",
            "raw",
            Recipes.extendedL2(dir),
            dir.resolve("out.raw").toString());
    assertEquals(1, r.exitCode());
    assertEquals(
        "qcow2: Invalid number of coroutines. Allowed number of coroutines is between 1 and 16\n",
        r.stderr());
  }

  @ParameterizedTest
  @ValueSource(strings = {"zlib", "zstd"})
  void should_compress_on_all_cores_into_an_image_qemu_reads(String codec) throws Exception {
    String image = Recipes.chain(dir);
    Path target = dir.resolve("out.qcow2");
    Cli.Result r =
        Cli.run(
            "qcow2",
            "convert",
            "-c",
            "-W",
            "-m",
            "3",
            "-O",
            "qcow2",
            "-o",
            "compression_type=" + codec,
            image,
            target.toString());
    assertEquals(0, r.exitCode(), r.stderr());
    assertCleanAndEqual(image, target);
    String info = Qemu.img(dir, "info", target.toString());
    assertTrue(info.contains("compression type: " + codec), info);
  }

  @Test
  void should_write_only_what_differs_from_the_backing_file() throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "base.qcow2", "4M");
    Qemu.io(dir, "base.qcow2", "write -P 1 0 4M");
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");
    Qemu.io(dir, "top.qcow2", "write -P 2 1M 4096");
    Qemu.img(dir, "convert", "-O", "raw", "top.qcow2", "new.raw");
    Cli.Result r =
        Cli.run(
            "qcow2",
            "convert",
            "-c",
            "-O",
            "qcow2",
            "-B",
            "base.qcow2",
            "-F",
            "qcow2",
            dir.resolve("new.raw").toString(),
            dir.resolve("delta.qcow2").toString());
    assertEquals(0, r.exitCode(), r.stderr());
    assertCleanAndEqual(dir.resolve("new.raw").toString(), dir.resolve("delta.qcow2"));
    String map = Qemu.img(dir, "map", "--output=json", dir.resolve("delta.qcow2").toString());
    assertTrue(
        map.contains(
            "{ \"start\": 1048576, \"length\": 65536, \"depth\": 0, \"present\": true, \"zero\": false, \"data\": true}"),
        map);
    assertEquals(3, map.split("\n").length, map);
    String info = Qemu.img(dir, "info", dir.resolve("delta.qcow2").toString());
    assertTrue(
        info.contains("backing file: base.qcow2 (actual path: "),
        "the name stays relative: " + info);
  }

  @Test
  void should_refuse_option_mixes_as_qemu_img_does() {
    String image = Recipes.extendedL2(dir);
    String out = dir.resolve("o").toString();
    assertEquals(
        "qcow2: Compression not supported for this file format\n",
        Cli.run("qcow2", "convert", "-c", "-O", "raw", image, out).stderr());
    assertEquals(
        "qcow2: --target-is-zero requires use of -n flag\n",
        Cli.run("qcow2", "convert", "--target-is-zero", image, out).stderr());
    assertTrue(
        Cli.run("qcow2", "convert", "-S", "1000", image, out)
            .stderr()
            .startsWith("qcow2: Invalid buffer size for sparse output specified."));
    assertFalse(Files.exists(Path.of(out)));
  }

  private void assertCleanAndEqual(String source, Path target) {
    Qemu.Result check = Qemu.exec(dir, java.util.List.of("qemu-img", "check", target.toString()));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    Qemu.Result compare =
        Qemu.exec(dir, java.util.List.of("qemu-img", "compare", source, target.toString()));
    assertEquals(0, compare.exitCode(), compare.stdout() + compare.stderr());
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "first",
        "1",
        "snapshot.name=first",
        "snapshot.id=2",
        "snapshot.id=1,snapshot.name=first",
        "snapshot.id=1,snapshot.name=second",
        "snapshot.name=first,id=x",
        "nope",
        "",
        "snapshot.id=",
        "snapshot.bogus=1",
        "snapshot.id=1,x=2"
      })
  void should_convert_a_snapshot_as_qemu_img_does(String param) throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "s.qcow2", "4M");
    Qemu.io(dir, "s.qcow2", "write -P 1 0 64k", "write -c -P 2 1M 64k");
    Qemu.img(dir, "snapshot", "-c", "first", "s.qcow2");
    Qemu.io(dir, "s.qcow2", "write -P 3 0 4k", "write -z 1M 64k");
    Qemu.img(dir, "resize", "-q", "s.qcow2", "6M");
    Qemu.img(dir, "snapshot", "-c", "second", "s.qcow2");
    Qemu.io(dir, "s.qcow2", "write -P 4 5M 4k");
    Qemu.Result q =
        Qemu.exec(
            dir,
            java.util.List.of("qemu-img", "convert", "-l", param, "-O", "raw", "s.qcow2", "q.raw"));
    Cli.Result r =
        Cli.run(
            "qcow2",
            "convert",
            "-l",
            param,
            "-O",
            "raw",
            dir.resolve("s.qcow2").toString(),
            dir.resolve("ours.raw").toString());
    assertEquals(q.exitCode(), r.exitCode(), param + ": " + q.stderr() + " / " + r.stderr());
    assertEquals(q.stderr().replace("qemu-img: ", "qcow2: "), r.stderr(), param);
    if (q.exitCode() == 0) {
      assertArrayEquals(
          Files.readAllBytes(dir.resolve("q.raw")),
          Files.readAllBytes(dir.resolve("ours.raw")),
          param);
      // And into qcow2: qemu-img reads our image as it read the snapshot.
      assertEquals(
          0,
          Cli.run(
                  "qcow2",
                  "convert",
                  "-l",
                  param,
                  "-O",
                  "qcow2",
                  dir.resolve("s.qcow2").toString(),
                  dir.resolve("ours.qcow2").toString())
              .exitCode());
      Qemu.img(dir, "check", "ours.qcow2");
      Qemu.img(dir, "compare", "-f", "qcow2", "-F", "raw", "ours.qcow2", "q.raw");
    }
  }

  @Test
  void should_refuse_a_snapshot_of_a_raw_source_as_qemu_img_does() throws Exception {
    Files.write(dir.resolve("d.raw"), new byte[65536]);
    Qemu.Result q =
        Qemu.exec(
            dir,
            java.util.List.of("qemu-img", "convert", "-l", "x", "-O", "raw", "d.raw", "q.raw"));
    Cli.Result r =
        Cli.run(
            "qcow2",
            "convert",
            "-l",
            "x",
            "-O",
            "raw",
            dir.resolve("d.raw").toString(),
            dir.resolve("ours.raw").toString());
    assertEquals(1, q.exitCode());
    assertEquals(1, r.exitCode());
    assertEquals(q.stderr().replace("qemu-img: ", "qcow2: "), r.stderr());
    // Named raw with -f rather than detected: the same refusal.
    Cli.Result forced =
        Cli.run(
            "qcow2",
            "convert",
            "-f",
            "raw",
            "-l",
            "x",
            "-O",
            "raw",
            dir.resolve("d.raw").toString(),
            dir.resolve("ours.raw").toString());
    assertEquals(1, forced.exitCode());
    assertEquals(r.stderr(), forced.stderr());
  }
}
