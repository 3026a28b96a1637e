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

/** qemu-img's -t and -T: the verbs that take them check the mode as qemu-img does, and run. */
class CacheOptionsTest {
  @TempDir Path dir;

  @BeforeEach
  void images() throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "base.qcow2", "1M");
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");
    Qemu.io(dir, "top.qcow2", "write -P 5 0 64k");
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "convert -t bogus -O raw top.qcow2 out.raw",
        "convert -T bogus -O raw top.qcow2 out.raw",
        "check -T bogus top.qcow2",
        "compare -T bogus top.qcow2 base.qcow2",
        "rebase -t bogus -u -b base.qcow2 -F qcow2 top.qcow2",
        "rebase -T bogus -u -b base.qcow2 -F qcow2 top.qcow2",
        "commit -t bogus top.qcow2",
        "amend -t bogus -o lazy_refcounts=on top.qcow2",
        "convert -t none -T writeback -O raw top.qcow2 out.raw",
        "convert -t off -O qcow2 top.qcow2 out.qcow2",
        "check -T unsafe top.qcow2",
        "compare -T directsync top.qcow2 base.qcow2",
        "rebase -t writethrough -T none -u -b base.qcow2 -F qcow2 top.qcow2",
        "amend -t writeback -o lazy_refcounts=on top.qcow2",
        "commit -t unsafe -d top.qcow2",
      })
  void should_check_and_accept_cache_modes_as_qemu_img_does(String line) throws Exception {
    List<String> args = List.of(line.split(" "));
    List<String> theirs = new ArrayList<>(List.of("qemu-img"));
    theirs.addAll(args);
    Qemu.Result q = Qemu.exec(dir, theirs);
    // The same line, again from the same images, through qcow2 (files made absolute).
    images();
    List<String> ours = new ArrayList<>(List.of("qcow2"));
    for (String a : args) {
      ours.add(a.contains(".qcow2") || a.endsWith(".raw") ? dir.resolve(a).toString() : a);
    }
    Cli.Result r = Cli.run(ours.toArray(String[]::new));
    assertEquals(q.exitCode(), r.exitCode(), line + ": " + q.stderr() + " / " + r.stderr());
    assertEquals(q.stderr().replace("qemu-img: ", "qcow2: "), r.stderr(), line);
    assertEquals(q.stdout(), r.stdout(), line);
  }
}
