package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code qcow2 resize} grows and shrinks images as qemu-img resize does, and refuses shrinking
 * without --shrink.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class ResizeCommandTest {
  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(strings = {"+1M", "3G", "+0", "2000000"})
  void should_grow_a_qcow2_image_like_qemu_img(String size) throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "ours.qcow2", "1M");
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "theirs.qcow2", "1M");
    Qemu.io(dir, "ours.qcow2", "write -P 4 0 64k");
    Cli.Result r = Cli.run("qcow2", "resize", dir.resolve("ours.qcow2").toString(), size);
    Qemu.Result q = Qemu.exec(dir, List.of("qemu-img", "resize", "theirs.qcow2", size));
    assertEquals(q.exitCode(), r.exitCode(), r.stderr());
    assertEquals(q.stdout(), r.stdout());
    String ours =
        Qemu.img(dir, "info", "ours.qcow2")
            .lines()
            .filter(l -> l.startsWith("virtual size"))
            .findFirst()
            .orElse("");
    String theirs =
        Qemu.img(dir, "info", "theirs.qcow2")
            .lines()
            .filter(l -> l.startsWith("virtual size"))
            .findFirst()
            .orElse("");
    assertEquals(theirs, ours);
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "ours.qcow2"));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    Qemu.io(dir, "ours.qcow2", "read -P 4 0 64k");
  }

  @ParameterizedTest
  @ValueSource(strings = {"1M", "-3M", "1000000", "0", "+0"})
  void should_shrink_a_qcow2_image_like_qemu_img(String size) throws Exception {
    for (String name : List.of("ours.qcow2", "theirs.qcow2")) {
      Qemu.img(dir, "create", "-q", "-f", "qcow2", name, "4M");
      Qemu.io(dir, name, "write -P 4 0 4M");
    }
    Cli.Result r =
        Cli.run("qcow2", "resize", "--shrink", dir.resolve("ours.qcow2").toString(), size);
    Qemu.Result q = Qemu.exec(dir, List.of("qemu-img", "resize", "--shrink", "theirs.qcow2", size));
    assertEquals(q.exitCode(), r.exitCode(), q.stderr() + " / " + r.stderr());
    assertEquals(q.stdout(), r.stdout());
    assertEquals(q.stderr().replace("qemu-img: ", "qcow2: "), r.stderr());
    Qemu.Result compare =
        Qemu.exec(dir, List.of("qemu-img", "compare", "-s", "ours.qcow2", "theirs.qcow2"));
    assertEquals(0, compare.exitCode(), compare.stdout());
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "ours.qcow2"));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
  }

  @Test
  void should_refuse_to_shrink_without_the_option() throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "s.qcow2", "4M");
    Cli.Result r = Cli.run("qcow2", "resize", dir.resolve("s.qcow2").toString(), "1M");
    assertEquals(1, r.exitCode());
    Qemu.Result q = Qemu.exec(dir, List.of("qemu-img", "resize", "s.qcow2", "1M"));
    assertEquals(q.stderr().replace("qemu-img: ", "qcow2: "), r.stderr());
    assertEquals(
        4L << 20,
        Long.parseLong(
            Qemu.img(dir, "info", "--output=json", "s.qcow2")
                .replaceAll("(?s).*\"virtual-size\": (\\d+).*", "$1")));
  }

  @Test
  void should_resize_raw_files_both_ways_with_shrink() throws Exception {
    Path raw = dir.resolve("r.raw");
    Files.write(raw, new byte[1 << 20]);
    assertEquals(0, Cli.run("qcow2", "resize", raw.toString(), "+1M").exitCode());
    assertEquals(2 << 20, Files.size(raw));
    assertEquals(1, Cli.run("qcow2", "resize", raw.toString(), "512K").exitCode());
    assertEquals(0, Cli.run("qcow2", "resize", "--shrink", raw.toString(), "512K").exitCode());
    assertEquals(512 << 10, Files.size(raw));
  }

  @ParameterizedTest
  @ValueSource(strings = {"abc", "+abc", "1Q", "99999999999999999999", "+99999999999999999999"})
  void should_refuse_a_bad_size_in_qemu_img_words(String size) throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "b.qcow2", "1M");
    Cli.Result r = Cli.run("qcow2", "resize", dir.resolve("b.qcow2").toString(), size);
    Qemu.Result q = Qemu.exec(dir, List.of("qemu-img", "resize", "b.qcow2", size));
    assertEquals(1, q.exitCode(), q.stderr());
    assertEquals(q.exitCode(), r.exitCode(), r.stderr());
    assertEquals(q.stderr().replace("qemu-img: ", "qcow2: "), r.stderr(), size);
  }
}
