package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code qcow2 rebase} and {@code qcow2 commit} as qemu-img's verbs: content kept, same output. */
class RebaseCommitCommandTest {
  @TempDir Path dir;

  private void chain() {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "base.qcow2", "4M");
    Qemu.io(dir, "base.qcow2", "write -P 1 0 4M");
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "other.qcow2", "4M");
    Qemu.io(dir, "other.qcow2", "write -P 1 0 2M");
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");
    Qemu.io(dir, "top.qcow2", "write -P 2 1M 4096");
    Qemu.img(dir, "convert", "-O", "raw", "top.qcow2", "before.raw");
  }

  @Test
  void rebaseKeepsContentAndFlattenDropsTheBackingFile() {
    chain();
    String top = dir.resolve("top.qcow2").toString();
    Cli.Result r = Cli.run("qcow2", "rebase", "-b", "other.qcow2", "-F", "qcow2", top);
    assertEquals(0, r.exitCode(), r.stderr());
    assertEquals("", r.stdout());
    assertSame("before.raw", "top.qcow2");
    assertTrue(Qemu.img(dir, "info", "top.qcow2").contains("backing file: other.qcow2\n"));
    r = Cli.run("qcow2", "rebase", "-b", "", top);
    assertEquals(0, r.exitCode(), r.stderr());
    assertSame("before.raw", "top.qcow2");
    assertTrue(!Qemu.img(dir, "info", "top.qcow2").contains("backing file"));
    Cli.Result missing = Cli.run("qcow2", "rebase", top);
    assertEquals(1, missing.exitCode());
    assertEquals(
        "qcow2: Must specify backing file (-b) or use unsafe mode (-u)\n", missing.stderr());
  }

  @Test
  void commitPrintsAsQemuImgAndEmptiesTheTop() {
    chain();
    Cli.Result r = Cli.run("qcow2", "commit", dir.resolve("top.qcow2").toString());
    assertEquals(0, r.exitCode(), r.stderr());
    assertEquals("Image committed.\n", r.stdout());
    assertSame("before.raw", "base.qcow2");
    assertSame("before.raw", "top.qcow2");
    assertEquals(
        "[{ \"start\": 0, \"length\": 4194304, \"depth\": 1, \"present\": true, \"zero\": false, \"data\": true, \"offset\": 327680}]\n",
        Qemu.img(dir, "map", "--output=json", "top.qcow2"));
    Cli.Result noBacking = Cli.run("qcow2", "commit", dir.resolve("base.qcow2").toString());
    assertEquals(1, noBacking.exitCode());
    assertTrue(
        noBacking.stderr().endsWith("Image does not have a backing file\n"), noBacking.stderr());
  }

  private void assertSame(String a, String b) {
    Qemu.Result c = Qemu.exec(dir, List.of("qemu-img", "compare", a, b));
    assertEquals(0, c.exitCode(), c.stdout() + c.stderr());
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", b.endsWith("raw") ? a : b));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
  }
}
