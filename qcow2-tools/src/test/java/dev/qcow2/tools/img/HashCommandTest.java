package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code qcow2 hash} prints what sha1sum and sha256sum print for qemu-img's raw output. */
class HashCommandTest {
  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(strings = {"sha1", "sha256"})
  void digestEqualsCoreutilsOfQemuImgRawOutput(String algorithm) throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "12M");
    Qemu.io(dir, "a.qcow2", "write -P 1 1000 70000", "write -P 2 9M 1M");
    Qemu.img(dir, "convert", "-c", "-O", "qcow2", "a.qcow2", "c.qcow2");
    Qemu.img(dir, "convert", "-O", "raw", "a.qcow2", "a.raw");
    Qemu.Result sum = Qemu.exec(dir, List.of(algorithm + "sum", "a.raw"));
    String expected = sum.stdout().substring(0, sum.stdout().indexOf(' '));
    for (String image : new String[] {"a.qcow2", "c.qcow2", "a.raw"}) {
      String file = dir.resolve(image).toString();
      Cli.Result r = Cli.run("qcow2", "hash", "--algorithm", algorithm, file);
      assertEquals(0, r.exitCode(), r.stderr());
      assertEquals(expected + "  " + file + "\n", r.stdout());
    }
  }

  @Test
  void treeHashAndSeveralFiles() {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "3M");
    Qemu.img(dir, "create", "-q", "-f", "raw", "b.raw", "3M");
    String a = dir.resolve("a.qcow2").toString();
    String b = dir.resolve("b.raw").toString();
    Cli.Result r = Cli.run("qcow2", "hash", "-a", "tree-sha256", a, b);
    assertEquals(0, r.exitCode(), r.stderr());
    // Both are 3 MiB of zeros: the same content, the same digest (README's zero vector is 3 MiB +
    // 512).
    String[] lines = r.stdout().split("\n");
    assertEquals(2, lines.length, r.stdout());
    assertEquals(lines[0].substring(0, 64), lines[1].substring(0, 64));
    assertTrue(lines[1].endsWith("  " + b), r.stdout());
  }

  @Test
  void unknownAlgorithmAndMissingFileFail() {
    Cli.Result r = Cli.run("qcow2", "hash", "-a", "md5", "x");
    assertEquals(1, r.exitCode());
    assertEquals("qcow2: unknown hash algorithm 'md5' (sha1, sha256, tree-sha256)\n", r.stderr());
    Cli.Result missing = Cli.run("qcow2", "hash", dir.resolve("nope.qcow2").toString());
    assertEquals(1, missing.exitCode());
    assertTrue(missing.stderr().contains("nope.qcow2"), missing.stderr());
  }
}
