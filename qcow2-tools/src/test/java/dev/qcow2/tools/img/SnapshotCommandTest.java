package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code qcow2 snapshot} prints, refuses and exits as qemu-img snapshot does. */
class SnapshotCommandTest {
  @TempDir Path dir;

  @Test
  void createListApplyDeleteAsQemuImg() {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "2M");
    Qemu.io(dir, "a.qcow2", "write -P 1 0 64k");
    String a = dir.resolve("a.qcow2").toString();
    assertEquals(0, Cli.run("qcow2", "snapshot", "-c", "one", a).exitCode());
    Qemu.io(dir, "a.qcow2", "write -P 2 0 64k");
    Qemu.img(dir, "snapshot", "-c", "two", "a.qcow2");
    Cli.Result list = Cli.run("qcow2", "snapshot", "-l", a);
    assertEquals(0, list.exitCode(), list.stderr());
    // The same table as qemu-img's, dates aside (each snapshot's own time).
    assertEquals(Qemu.img(dir, "snapshot", "-l", "a.qcow2"), list.stdout());
    assertEquals(0, Cli.run("qcow2", "snapshot", "-a", "one", a).exitCode());
    Qemu.io(dir, "a.qcow2", "read -P 1 0 64k");
    assertEquals(0, Cli.run("qcow2", "snapshot", "-d", "two", a).exitCode());
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "a.qcow2"));
    assertEquals(0, check.exitCode(), check.stdout());
    assertEquals(1, Qemu.img(dir, "snapshot", "-l", "a.qcow2").split("\n").length - 2);
  }

  @Test
  void errorsAsQemuImg() {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "1M");
    String a = dir.resolve("a.qcow2").toString();
    for (List<String> args :
        List.<List<String>>of(
            List.of("-a", "nope"), List.of("-d", "nope"), List.of("-l", "-c", "x"), List.of())) {
      List<String> ours = new java.util.ArrayList<>(List.of("qcow2", "snapshot"));
      ours.addAll(args);
      ours.add(a);
      Cli.Result r = Cli.run(ours.toArray(String[]::new));
      List<String> theirs = new java.util.ArrayList<>(List.of("qemu-img", "snapshot"));
      theirs.addAll(args);
      theirs.add("a.qcow2");
      Qemu.Result q = Qemu.exec(dir, theirs);
      assertEquals(q.exitCode(), r.exitCode(), args + ": " + r.stderr());
      assertEquals(q.stdout(), r.stdout(), args.toString());
      if (q.exitCode() != 0) {
        assertEquals(
            q.stderr().lines().findFirst().orElse("").replace("qemu-img: ", "qcow2: "),
            r.stderr().lines().findFirst().orElse(""),
            args.toString());
      }
    }
  }
}
