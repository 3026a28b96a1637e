package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

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
  @ValueSource(strings = {"cluster_size=65536", "cluster_size=4096,refcount_bits=1", "compat=0.10", "extended_l2=on,cluster_size=128k"})
  void should_convert_to_a_qcow2_image_that_qemu_finds_equal_and_clean(String options) throws Exception {
    String image = Recipes.chain(dir);
    Path target = dir.resolve("out.qcow2");
    Cli.Result r = Cli.run("qcow2", "convert", "-O", "qcow2", "-o", options, image, target.toString());
    assertEquals(0, r.exitCode(), r.stderr());
    Qemu.Result check = Qemu.exec(dir, java.util.List.of("qemu-img", "check", target.toString()));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    Qemu.Result compare = Qemu.exec(dir, java.util.List.of("qemu-img", "compare", image, target.toString()));
    assertEquals(0, compare.exitCode(), compare.stdout() + compare.stderr());
  }

  @Test
  void should_refuse_zero_threads() {
    Cli.Result r = Cli.run("qcow2", "convert", "-m", "0", "-O", "raw",
        Recipes.extendedL2(dir), dir.resolve("out.raw").toString());
    assertEquals(1, r.exitCode());
    assertEquals("qcow2: -m needs at least 1 thread: 0\n", r.stderr());
  }
}
