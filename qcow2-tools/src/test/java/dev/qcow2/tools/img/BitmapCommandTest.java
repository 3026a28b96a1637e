package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code qcow2 bitmap} against {@code qemu-img bitmap}, option by option: each command line runs on
 * two copies of one image, and the exit code, the messages, {@code qemu-img info}'s bitmaps and
 * what qemu-nbd exports of each bitmap must agree; {@code qemu-img check} is clean after ours.
 */
class BitmapCommandTest {
  @TempDir Path dir;

  private void base() {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "base.qcow2", "16M");
    Qemu.img(dir, "bitmap", "--add", "base.qcow2", "b1");
    Qemu.img(dir, "bitmap", "--add", "-g", "4096", "base.qcow2", "b2");
    Qemu.io(dir, "base.qcow2", "write -P 1 0 100k", "write -P 2 5M 4k");
    Qemu.img(dir, "bitmap", "--disable", "base.qcow2", "b2");
    Qemu.io(dir, "base.qcow2", "write -P 3 9M 1k");
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "src.qcow2", "16M");
    Qemu.img(dir, "bitmap", "--add", "-g", "512", "src.qcow2", "s");
    Qemu.io(dir, "src.qcow2", "write -P 4 3M 3000");
    // An image whose bitmaps a killed writer left in use.
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "stale.qcow2", "16M");
    Qemu.img(dir, "bitmap", "--add", "stale.qcow2", "x");
    Qemu.exec(dir, List.of("qemu-io", "-c", "write 0 1M", "-c", "sigraise 9", "stale.qcow2"));
  }

  @Test
  @Timeout(value = 4, unit = TimeUnit.MINUTES)
  void everyOptionAsQemuImg() throws Exception {
    base();
    String[][] cases = {
      {"--add", "new"},
      {"--add", "-g", "512", "new"},
      {"--add", "-g", "2G", "new"},
      {"--add", "--disable", "new"},
      {"--add", "--enable", "--disable", "new"},
      {"--add", "b1"},
      {"--add", ""},
      {"--add", "-g", "3000", "new"},
      {"--add", "-g", "4G", "new"},
      {"--add", "-g", "0", "new"},
      {"--remove", "b1"},
      {"--remove", "nob"},
      {"--add", "--remove", "new"},
      {"--clear", "b1"},
      {"--clear", "nob"},
      {"--enable", "b2"},
      {"--disable", "b1"},
      {"--enable", "--clear", "b2"},
      {"--merge", "b1", "b2"},
      {"--merge", "b2", "b1"},
      {"--merge", "nob", "b1"},
      {"--merge", "b1", "nob"},
      {"--merge", "s", "-b", "src.qcow2", "b1"},
      {"--merge", "s", "-b", "src.qcow2", "-F", "qcow2", "b2"},
      {"--merge", "s", "-b", "src.qcow2", "-F", "raw", "b2"},
      {"--merge", "nos", "-b", "src.qcow2", "b1"},
      {"--add", "--merge", "b1", "new"},
      {"--disable", "--add", "new"},
      {"--add", "--add", "twice"},
      {"b1"},
      {},
      {"--add"},
      {"-g", "64k", "--remove", "b1"},
      {"-b", "src.qcow2", "--add", "b1"},
      {"-F", "raw", "--remove", "b1"},
      {"--add", "-g", "x", "new"},
    };
    for (String[] c : cases) {
      compare("base.qcow2", c);
    }
    for (String[] c :
        new String[][] {
          {"--clear", "x"}, {"--enable", "x"}, {"--add", "--merge", "x", "y"}, {"--remove", "x"}
        }) {
      compare("stale.qcow2", c);
    }
  }

  @Test
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void snapshotApplyIsRefusedWhileBitmapsExistAsQemuImgRefusesIt() throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "base.qcow2", "16M");
    Qemu.img(dir, "snapshot", "-c", "s1", "base.qcow2");
    Qemu.img(dir, "bitmap", "--add", "--disable", "base.qcow2", "b");
    compareSnapshotApply();
    Qemu.img(dir, "bitmap", "--remove", "base.qcow2", "b");
    compareSnapshotApply();
  }

  private void compareSnapshotApply() throws Exception {
    Files.copy(
        dir.resolve("base.qcow2"), dir.resolve("ours.qcow2"), StandardCopyOption.REPLACE_EXISTING);
    Files.copy(
        dir.resolve("base.qcow2"),
        dir.resolve("theirs.qcow2"),
        StandardCopyOption.REPLACE_EXISTING);
    Cli.Result r = Cli.run("qcow2", "snapshot", "-a", "s1", dir.resolve("ours.qcow2").toString());
    Qemu.Result q = Qemu.exec(dir, List.of("qemu-img", "snapshot", "-a", "s1", "theirs.qcow2"));
    assertEquals(q.exitCode(), r.exitCode(), r.stderr());
    assertEquals(q.stderr().replace("qemu-img: ", "qcow2: "), r.stderr());
  }

  /**
   * The verbs that write into an existing image (commit into the base, convert -n into the target,
   * a safe rebase into the overlay) set the bits of its enabled bitmaps as qemu-img's do.
   */
  @Test
  @Timeout(value = 3, unit = TimeUnit.MINUTES)
  void writingVerbsMarkTheBitmapsOfTheImageTheyWrite() throws Exception {
    for (String side : List.of("ours", "theirs")) {
      Qemu.img(dir, "create", "-q", "-f", "qcow2", side + "-base.qcow2", "16M");
      Qemu.io(dir, side + "-base.qcow2", "write -P 1 0 2M");
      Qemu.img(dir, "bitmap", "--add", "-g", "4096", side + "-base.qcow2", "bb");
      String overlay = "create -q -f qcow2 -F qcow2 -b %-base.qcow2 %-top.qcow2";
      Qemu.img(dir, overlay.replace("%", side).split(" "));
      Qemu.img(dir, "bitmap", "--add", "-g", "4096", side + "-top.qcow2", "tb");
      Qemu.io(
          dir, side + "-top.qcow2", "write -P 2 1M 8k", "write -P 3 7M 100k", "write -z 12M 64k");
      Qemu.img(dir, "create", "-q", "-f", "qcow2", side + "-other.qcow2", "16M");
      Qemu.io(dir, side + "-other.qcow2", "write -P 1 0 1M");
      Qemu.img(dir, "create", "-q", "-f", "qcow2", side + "-dst.qcow2", "16M");
      Qemu.img(dir, "bitmap", "--add", "-g", "4096", side + "-dst.qcow2", "db");
      Qemu.io(dir, side + "-dst.qcow2", "write -P 5 4M 1M");
    }
    String[][] verbs = {
      {"rebase", "-b", "%-other.qcow2", "-F", "qcow2", "%-top.qcow2"},
      {"commit", "%-top.qcow2"},
      {"convert", "-n", "-O", "qcow2", "%-top.qcow2", "%-dst.qcow2"},
    };
    for (String[] v : verbs) {
      List<String> ours = new ArrayList<>(List.of("qcow2"));
      List<String> theirs = new ArrayList<>(List.of("qemu-img"));
      for (String a : v) {
        ours.add(a.startsWith("%") ? dir.resolve(a.replace("%", "ours")).toString() : a);
        theirs.add(a.replace("%", "theirs"));
      }
      Cli.Result r = Cli.run(ours.toArray(String[]::new));
      assertEquals(0, r.exitCode(), r.stderr());
      Qemu.run(dir, theirs.toArray(String[]::new));
      for (String[] image : new String[][] {{"top", "tb"}, {"base", "bb"}, {"dst", "db"}}) {
        String o = "ours-" + image[0] + ".qcow2";
        String t = "theirs-" + image[0] + ".qcow2";
        assertEquals(
            dev.qcow2.BitmapTest.nbdDirty(dir, t, image[1]),
            dev.qcow2.BitmapTest.nbdDirty(dir, o, image[1]),
            v[0] + ": " + image[1]);
        dev.qcow2.BitmapTest.check(dir, o);
      }
    }
  }

  @Test
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void infoListsBitmapsWithQemusFlags() throws Exception {
    base();
    Qemu.img(dir, "bitmap", "--add", "--disable", "stale.qcow2", "off");
    for (String image : List.of("base.qcow2", "stale.qcow2")) {
      String path = dir.resolve(image).toString();
      String json = QemuParity.assertSameJson(dir, "info", "--output=json", path);
      QemuParity.assertSameOutput(dir, "info", path);
      assertTrue(json.contains(image.equals("base.qcow2") ? "\"auto\"" : "\"in-use\""), json);
    }
  }

  /** Runs one command line through both tools on fresh copies and compares what they did. */
  private void compare(String image, String[] args) throws Exception {
    Files.copy(dir.resolve(image), dir.resolve("ours.qcow2"), StandardCopyOption.REPLACE_EXISTING);
    Files.copy(
        dir.resolve(image), dir.resolve("theirs.qcow2"), StandardCopyOption.REPLACE_EXISTING);
    List<String> ours = new ArrayList<>(List.of("qcow2", "bitmap"));
    List<String> theirs = new ArrayList<>(List.of("qemu-img", "bitmap"));
    for (String a : args) {
      boolean file = a.equals("src.qcow2");
      ours.add(file ? dir.resolve(a).toString() : a);
      theirs.add(a);
    }
    // The image goes before the bitmap name, the last operand.
    if (args.length > 0 && !args[args.length - 1].startsWith("-")) {
      ours.add(ours.size() - 1, dir.resolve("ours.qcow2").toString());
      theirs.add(theirs.size() - 1, "theirs.qcow2");
    }
    String what = String.join(" ", args);
    Cli.Result r = Cli.run(ours.toArray(String[]::new));
    Qemu.Result q = Qemu.exec(dir, theirs);
    assertEquals(q.exitCode(), r.exitCode(), what + ": " + r.stderr() + " / " + q.stderr());
    assertEquals(q.stderr().replace("qemu-img: ", "qcow2: "), r.stderr(), what);
    assertEquals(
        dev.qcow2.BitmapTest.info(dir, "theirs.qcow2"),
        dev.qcow2.BitmapTest.info(dir, "ours.qcow2"),
        what);
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "ours.qcow2"));
    assertEquals(0, check.exitCode(), what + ": " + check.stdout());
    assertTrue(check.stdout().contains("No errors"), what);
    for (String b : List.of("b1", "b2", "new", "twice", "y")) {
      if (dev.qcow2.BitmapTest.info(dir, "theirs.qcow2").contains("\"" + b + "\"")) {
        assertEquals(
            dev.qcow2.BitmapTest.nbdDirty(dir, "theirs.qcow2", b),
            dev.qcow2.BitmapTest.nbdDirty(dir, "ours.qcow2", b),
            what + ": bitmap " + b);
      }
    }
  }
}
