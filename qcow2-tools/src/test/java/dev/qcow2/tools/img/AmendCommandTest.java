package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code qcow2 amend} against {@code qemu-img amend} on the same inputs: the same exit code and
 * messages, the same options afterwards (qemu-img info), the same content, and qemu-img check finds
 * our image clean.
 */
class AmendCommandTest {
  @TempDir Path dir;

  @ParameterizedTest(name = "{0}: -o {1}")
  @CsvSource(
      delimiter = '|',
      value = {
        "compat=1.1 | compat=0.10",
        "compat=1.1,lazy_refcounts=on | compat=0.10",
        "compat=1.1,lazy_refcounts=on | lazy_refcounts=off",
        "compat=1.1 | lazy_refcounts=on",
        "compat=0.10 | compat=1.1",
        "compat=0.10 | lazy_refcounts=on",
        "compat=0.10 | compat=1.1,lazy_refcounts=on,refcount_bits=4",
        "compat=1.1 | refcount_bits=1",
        "compat=1.1 | refcount_bits=64",
        "compat=1.1,refcount_bits=8 | compat=0.10",
        "compat=1.1,refcount_bits=8 | compat=0.10,refcount_bits=16",
        "compat=1.1,cluster_size=4096 | compat=0.10",
        "compat=1.1,compression_type=zstd | compat=0.10",
        "compat=1.1,extended_l2=on | compat=0.10",
        "compat=1.1 | cluster_size=4096",
        "compat=1.1 | backing_file=other.qcow2,backing_fmt=qcow2",
        "compat=1.1 | compat=0.10,backing_file=other.qcow2",
        "compat=1.1 | foo=1"
      })
  void should_amend_as_qemu_img_does(String create, String amend) throws IOException {
    for (String side : List.of("ours", "theirs")) {
      Path d = Files.createDirectories(dir.resolve(side));
      Qemu.img(d, "create", "-q", "-f", "qcow2", "base.qcow2", "4M");
      Qemu.io(d, "base.qcow2", "write -P 7 0 4M");
      Qemu.img(d, "create", "-q", "-f", "qcow2", "other.qcow2", "4M");
      Qemu.io(d, "other.qcow2", "write -P 8 0 4M");
      Qemu.img(
          d,
          "create",
          "-q",
          "-f",
          "qcow2",
          "-o",
          create,
          "-b",
          "base.qcow2",
          "-F",
          "qcow2",
          "a.qcow2",
          "4M");
      List<String> writes = new ArrayList<>(List.of("write -P 1 0 64k", "write -P 2 1M 100k"));
      if (!create.contains("compat=0.10")) {
        writes.add("write -z 2M 128k");
      }
      if (!create.contains("zstd")) {
        writes.add("write -c -P 3 3M 64k");
      }
      Qemu.io(d, "a.qcow2", writes.toArray(String[]::new));
    }
    byte[] before = raw(dir.resolve("ours"));
    Cli.Result r = Cli.run("qcow2", "amend", "-o", amend, dir.resolve("ours/a.qcow2").toString());
    if (amend.contains("backing_file")) {
      // qemu-img 7.2 refuses ("Cannot amend the backing file"); we rename it, as rebase -u does.
      assertEquals(0, r.exitCode(), r.stderr());
      Qemu.img(
          dir.resolve("theirs"), "rebase", "-u", "-b", "other.qcow2", "-F", "qcow2", "a.qcow2");
      if (amend.contains("compat=0.10")) {
        Qemu.img(dir.resolve("theirs"), "amend", "-o", "compat=0.10", "a.qcow2");
      }
      Qemu.Result check = Qemu.exec(dir.resolve("ours"), List.of("qemu-img", "check", "a.qcow2"));
      assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
      assertEquals(options(dir.resolve("theirs")), options(dir.resolve("ours")));
      assertArrayEquals(raw(dir.resolve("theirs")), raw(dir.resolve("ours")));
      return;
    }
    Qemu.Result q =
        Qemu.exec(dir.resolve("theirs"), List.of("qemu-img", "amend", "-o", amend, "a.qcow2"));
    String context =
        amend + ": qemu " + q.stdout() + q.stderr() + " / ours " + r.stdout() + r.stderr();
    assertEquals(q.exitCode(), r.exitCode(), context);
    if (q.exitCode() != 0) {
      assertEquals(
          q.stderr().lines().findFirst().orElse("").replace("qemu-img: ", "qcow2: "),
          r.stderr()
              .lines()
              .findFirst()
              .orElse("")
              .replaceAll("qcow2: /\\S+/a\\.qcow2: ", "qcow2: "),
          context);
    }
    Qemu.Result check = Qemu.exec(dir.resolve("ours"), List.of("qemu-img", "check", "a.qcow2"));
    assertEquals(0, check.exitCode(), context + "\n" + check.stdout() + check.stderr());
    assertEquals(options(dir.resolve("theirs")), options(dir.resolve("ours")), context);
    assertArrayEquals(raw(dir.resolve("theirs")), raw(dir.resolve("ours")), context);
    if (!amend.contains("backing_file")) {
      assertArrayEquals(before, raw(dir.resolve("ours")), context);
    }
  }

  /** What qemu-img info says of the options (not sizes or dates). */
  private static String options(Path d) {
    StringBuilder sb = new StringBuilder();
    for (String line : Qemu.img(d, "info", "a.qcow2").split("\n")) {
      if (line.startsWith("backing file") || line.startsWith("    ") && !line.contains("corrupt")) {
        sb.append(line).append('\n');
      }
    }
    return sb.toString();
  }

  private static byte[] raw(Path d) throws IOException {
    Path out = Qemu.toRaw(d, "a.qcow2", "view.raw");
    byte[] b = Files.readAllBytes(out);
    Files.delete(out);
    return b;
  }
}
