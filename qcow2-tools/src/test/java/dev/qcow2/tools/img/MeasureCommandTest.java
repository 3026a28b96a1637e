package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code qcow2 measure} prints qemu-img measure's numbers, human and JSON, for the same inputs. */
class MeasureCommandTest {
  @TempDir Path dir;

  @BeforeEach
  void images() {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "m.qcow2", "100M");
    Qemu.io(
        dir,
        "m.qcow2",
        "write -P 1 1000 70000",
        "write -z 50M 1M",
        "write -P 2 90M 64k",
        "write -c -P 3 20M 64k");
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-b", "m.qcow2", "-F", "qcow2", "top.qcow2");
    Qemu.io(dir, "top.qcow2", "write -P 4 60M 4096");
    Qemu.img(dir, "bitmap", "--add", "-g", "65536", "m.qcow2", "b0");
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "--size 1G",
        "--size 1G -O qcow2",
        "--size 1G -O qcow2 -o cluster_size=4096,refcount_bits=1",
        "--size 3T -O qcow2 -o extended_l2=on",
        "--size 10M -O qcow2 -o preallocation=full",
        "--size 1G -O qcow2 -o compat=0.10",
        "-O qcow2 m.qcow2",
        "m.qcow2",
        "-O qcow2 top.qcow2",
        "-O qcow2 -o cluster_size=2M m.qcow2",
        "-O qcow2 -o backing_file=x.qcow2 m.qcow2",
        "-O qcow2 -o compat=0.10 m.qcow2",
        "--output=json -O qcow2 m.qcow2",
        "--output=json --size 5G -O qcow2",
        "--size 1G m.qcow2",
        "",
        "--size abc -O qcow2",
        "--size 99999999999999999999 -O qcow2"
      })
  void should_measure_as_qemu_img_does(String args) {
    List<String> a = args.isEmpty() ? List.of() : List.of(args.split(" "));
    List<String> theirs = new ArrayList<>(List.of("qemu-img", "measure"));
    theirs.addAll(a);
    Qemu.Result q = Qemu.exec(dir, theirs);
    List<String> ours = new ArrayList<>(List.of("qcow2", "measure"));
    for (String s : a) {
      ours.add(s.endsWith(".qcow2") && !s.contains("=") ? dir.resolve(s).toString() : s);
    }
    Cli.Result r = Cli.run(ours.toArray(String[]::new));
    assertEquals(q.exitCode(), r.exitCode(), args + ": " + q.stderr() + " / " + r.stderr());
    assertEquals(q.stdout(), r.stdout(), args);
    if (q.exitCode() != 0) {
      assertEquals(
          q.stderr().lines().findFirst().orElse("").replace("qemu-img: ", "qcow2: "),
          r.stderr().lines().findFirst().orElse(""),
          args);
    }
  }
}
