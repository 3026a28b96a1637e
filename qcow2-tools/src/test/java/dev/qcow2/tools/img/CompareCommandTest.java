package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code qcow2 compare} prints and exits as qemu-img compare does, for qcow2 and raw in any mix.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class CompareCommandTest {
  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(
      strings = {
        "same",
        "same as raw",
        "same compressed",
        "one byte",
        "longer zero tail",
        "longer data tail",
        "shorter",
        "missing"
      })
  void should_compare_as_qemu_img_does(String kind) throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "4M");
    Qemu.io(dir, "a.qcow2", "write -P 1 1000 70000", "write -P 2 2M 4096");
    String b = "b.qcow2";
    switch (kind) {
      case "same as raw" -> {
        Qemu.img(dir, "convert", "-O", "raw", "a.qcow2", "b.raw");
        b = "b.raw";
      }
      case "same compressed" -> Qemu.img(dir, "convert", "-c", "-O", "qcow2", "a.qcow2", b);
      case "missing" -> b = "missing.qcow2";
      default -> {
        long size =
            switch (kind) {
              case "longer zero tail", "longer data tail" -> 6L << 20;
              case "shorter" -> 3L << 20;
              default -> 4L << 20;
            };
        Qemu.img(dir, "create", "-q", "-f", "qcow2", b, Long.toString(size));
        Qemu.io(dir, b, "write -P 1 1000 70000");
        if (size >= 4L << 20) {
          Qemu.io(dir, b, "write -P 2 2M 4096");
        }
        if (kind.equals("one byte")) {
          Qemu.io(dir, b, "write -P 7 3333333 1");
        } else if (kind.equals("longer data tail")) {
          Qemu.io(dir, b, "write -P 9 5000000 1");
        }
      }
    }
    Cli.Result r =
        Cli.run("qcow2", "compare", dir.resolve("a.qcow2").toString(), dir.resolve(b).toString());
    Qemu.Result q = Qemu.exec(dir, List.of("qemu-img", "compare", "a.qcow2", b));
    assertEquals(
        q.exitCode(), r.exitCode(), q.stdout() + q.stderr() + " / " + r.stdout() + r.stderr());
    assertEquals(q.stdout(), r.stdout());
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "copy",
        "converted",
        "raw",
        "larger",
        "same data rewritten",
        "zeros written as data",
        "other data",
        "zero cluster over nothing",
        "extended l2"
      })
  void should_compare_strictly_as_qemu_img_does(String kind) throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "4M");
    Qemu.io(dir, "a.qcow2", "write -P 1 0 64k", "write -c -P 2 1M 64k", "write -z 2M 64k");
    String b = "b.qcow2";
    switch (kind) {
      case "copy" -> java.nio.file.Files.copy(dir.resolve("a.qcow2"), dir.resolve(b));
      case "converted" -> Qemu.img(dir, "convert", "-O", "qcow2", "a.qcow2", b);
      case "raw" -> {
        b = "b.raw";
        Qemu.img(dir, "convert", "-O", "raw", "a.qcow2", b);
      }
      case "larger" -> Qemu.img(dir, "create", "-q", "-f", "qcow2", b, "5M");
      case "extended l2" -> {
        Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "extended_l2=on", b, "4M");
        Qemu.io(dir, b, "write -P 1 0 64k", "write -c -P 2 1M 64k", "write -z 2M 64k");
      }
      default -> {
        java.nio.file.Files.copy(dir.resolve("a.qcow2"), dir.resolve(b));
        switch (kind) {
          case "same data rewritten" -> Qemu.io(dir, b, "write -P 1 0 64k");
          case "zeros written as data" -> Qemu.io(dir, b, "write -P 0 3M 64k");
          case "other data" -> Qemu.io(dir, b, "write -P 9 4096 512");
          default -> Qemu.io(dir, b, "write -z 3M 64k");
        }
      }
    }
    Cli.Result r =
        Cli.run(
            "qcow2", "compare", "-s", dir.resolve("a.qcow2").toString(), dir.resolve(b).toString());
    Qemu.Result q = Qemu.exec(dir, List.of("qemu-img", "compare", "-s", "a.qcow2", b));
    assertEquals(
        q.exitCode(),
        r.exitCode(),
        kind + ": " + q.stdout() + q.stderr() + " / " + r.stdout() + r.stderr());
    if (kind.equals("raw")) {
      // qemu sees the raw file's holes, the JDK cannot: both find the status differs, at
      // different offsets.
      assertTrue(
          r.stdout().startsWith("Strict mode: Offset ")
              && r.stdout().endsWith(" block status mismatch!\n"));
    } else {
      assertEquals(q.stdout(), r.stdout(), kind);
    }
  }
}
