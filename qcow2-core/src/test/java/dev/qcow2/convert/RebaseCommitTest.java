package dev.qcow2.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Rebase and commit give the same content as qemu-img rebase and commit on the same inputs: each
 * case is built twice, in "ours" and "theirs", and the results compared with qemu-img.
 */
class RebaseCommitTest {
  @TempDir Path dir;

  /** Builds the same chain in a folder: base1, base2 (partly equal to base1) and top on base1. */
  private void chain(Path d, String options) throws IOException {
    Files.createDirectories(d);
    TestData.writeRaw(d.resolve("b1.raw"), 6L << 20, 11);
    Files.copy(d.resolve("b1.raw"), d.resolve("b2.raw"));
    // base2: the same but for two ranges, and 1 MiB shorter.
    Qemu.exec(
        d,
        List.of(
            "qemu-io", "-f", "raw", "-c", "write -P 7 1M 100k", "-c", "write -z 3M 64k", "b2.raw"));
    Qemu.img(d, "convert", "-O", "qcow2", "-o", options, "b1.raw", "base1.qcow2");
    Qemu.img(d, "convert", "-O", "qcow2", "-o", options, "b2.raw", "base2.qcow2");
    Qemu.img(d, "resize", "-q", "--shrink", "base2.qcow2", "5M");
    Qemu.img(
        d,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        options,
        "-b",
        "base1.qcow2",
        "-F",
        "qcow2",
        "top.qcow2",
        "7M");
    Qemu.io(d, "top.qcow2", "write -P 3 1040k 8k", "write -z 2M 4k", "write -P 4 6M 512k");
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"compat=1.1", "compat=0.10", "extended_l2=on", "cluster_size=4096"})
  void safeRebaseKeepsTheContentAsQemuImgDoes(String options) throws Exception {
    Path ours = dir.resolve("ours");
    Path theirs = dir.resolve("theirs");
    chain(ours, options);
    chain(theirs, options);
    byte[] before = raw(ours, "top.qcow2");
    ImageRebaser.rebase(ours.resolve("top.qcow2"), "base2.qcow2", "qcow2", RebaseMode.SAFE, null);
    Qemu.img(theirs, "rebase", "-b", "base2.qcow2", "-F", "qcow2", "top.qcow2");
    assertClean(ours, "top.qcow2");
    assertArrayEquals(before, raw(ours, "top.qcow2"), "the disk reads as before");
    assertArrayEquals(raw(theirs, "top.qcow2"), raw(ours, "top.qcow2"));
    String info = Qemu.img(ours, "info", "top.qcow2");
    assertTrue(info.contains("backing file: base2.qcow2\n"), "kept relative: " + info);
    assertTrue(info.contains("backing file format: qcow2"), info);
  }

  @Test
  void rebaseOntoNothingFlattens() throws Exception {
    chain(dir, "compat=1.1");
    byte[] before = raw(dir, "top.qcow2");
    ImageRebaser.rebase(dir.resolve("top.qcow2"), "", null, RebaseMode.SAFE, null);
    assertClean(dir, "top.qcow2");
    assertArrayEquals(before, raw(dir, "top.qcow2"));
    assertFalse(Qemu.img(dir, "info", "top.qcow2").contains("backing file"));
  }

  @Test
  void rebaseOntoRawKeepsContent() throws Exception {
    chain(dir, "compat=1.1");
    byte[] before = raw(dir, "top.qcow2");
    ImageRebaser.rebase(dir.resolve("top.qcow2"), "b2.raw", null, RebaseMode.SAFE, null);
    assertClean(dir, "top.qcow2");
    assertArrayEquals(before, raw(dir, "top.qcow2"));
    assertTrue(Qemu.img(dir, "info", "top.qcow2").contains("backing file format: raw"));
  }

  @Test
  void unsafeRebaseOnlyRenamesAsQemuImgDashU() throws Exception {
    Path ours = dir.resolve("ours");
    Path theirs = dir.resolve("theirs");
    chain(ours, "compat=1.1");
    chain(theirs, "compat=1.1");
    ImageRebaser.rebase(ours.resolve("top.qcow2"), "base2.qcow2", "qcow2", RebaseMode.UNSAFE, null);
    Qemu.img(theirs, "rebase", "-u", "-b", "base2.qcow2", "-F", "qcow2", "top.qcow2");
    assertClean(ours, "top.qcow2");
    assertArrayEquals(raw(theirs, "top.qcow2"), raw(ours, "top.qcow2"));
    assertEquals(
        Qemu.img(theirs, "map", "--output=json", "top.qcow2").replace(theirs.toString(), ""),
        Qemu.img(ours, "map", "--output=json", "top.qcow2").replace(ours.toString(), ""));
    // A name that does not exist is fine unsafely, refused safely.
    ImageRebaser.rebase(ours.resolve("top.qcow2"), "gone.qcow2", "qcow2", RebaseMode.UNSAFE, null);
    Qemu.Result info = Qemu.exec(ours, List.of("qemu-img", "info", "top.qcow2"));
    assertTrue(
        (info.stdout() + info.stderr()).contains("gone.qcow2"), info.stdout() + info.stderr());
    assertThrows(
        java.nio.file.NoSuchFileException.class,
        () ->
            ImageRebaser.rebase(
                ours.resolve("top.qcow2"), "gone2.qcow2", "qcow2", RebaseMode.SAFE, null));
  }

  @ParameterizedTest(name = "keep top: {0}")
  @ValueSource(booleans = {false, true})
  void commitWritesTheOverlayIntoItsBaseAsQemuImgDoes(boolean keep) throws Exception {
    Path ours = dir.resolve("ours");
    Path theirs = dir.resolve("theirs");
    chain(ours, "compat=1.1");
    chain(theirs, "compat=1.1");
    byte[] before = raw(ours, "top.qcow2");
    ImageCommitter.commit(ours.resolve("top.qcow2"), null, keep, null);
    if (keep) {
      Qemu.img(theirs, "commit", "-q", "-d", "top.qcow2");
    } else {
      Qemu.img(theirs, "commit", "-q", "top.qcow2");
    }
    assertClean(ours, "base1.qcow2");
    assertClean(ours, "top.qcow2");
    assertArrayEquals(raw(theirs, "base1.qcow2"), raw(ours, "base1.qcow2"));
    assertArrayEquals(before, raw(ours, "base1.qcow2"), "the base now reads as the top did");
    assertArrayEquals(before, raw(ours, "top.qcow2"), "the top still reads the same");
    String map = Qemu.img(ours, "map", "--output=json", "top.qcow2");
    assertEquals(keep, map.contains("\"depth\": 0, \"present\": true"), map);
  }

  @Test
  void commitIntoADeeperBaseLeavesTheTop() throws Exception {
    Path ours = dir.resolve("ours");
    Path theirs = dir.resolve("theirs");
    for (Path d : List.of(ours, theirs)) {
      chain(d, "compat=1.1");
      Qemu.img(d, "create", "-q", "-f", "qcow2", "-b", "top.qcow2", "-F", "qcow2", "top2.qcow2");
      Qemu.io(d, "top2.qcow2", "write -P 9 0 64k", "write -z 6M 4k");
    }
    byte[] before = raw(ours, "top2.qcow2");
    ImageCommitter.commit(ours.resolve("top2.qcow2"), ours.resolve("base1.qcow2"), false, null);
    Qemu.img(theirs, "commit", "-q", "-b", "base1.qcow2", "top2.qcow2");
    assertClean(ours, "base1.qcow2");
    assertArrayEquals(raw(theirs, "base1.qcow2"), raw(ours, "base1.qcow2"));
    assertArrayEquals(before, raw(ours, "base1.qcow2"));
    assertArrayEquals(before, raw(ours, "top2.qcow2"), "-b implies keeping the top");
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                ImageCommitter.commit(
                    ours.resolve("top2.qcow2"), ours.resolve("b1.raw"), false, null));
    assertTrue(e.getMessage().startsWith("Did not find"), e.getMessage());
  }

  @Test
  void commitIntoRawBase() throws Exception {
    TestData.writeRaw(dir.resolve("base.raw"), 2L << 20, 3);
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "top.qcow2", "3M");
    Qemu.io(dir, "top.qcow2", "write -P 5 100k 200k", "write -z 0 64k", "write -P 6 2560k 4k");
    byte[] before = raw(dir, "top.qcow2");
    ImageCommitter.commit(dir.resolve("top.qcow2"), null, false, null);
    assertArrayEquals(before, Files.readAllBytes(dir.resolve("base.raw")));
    assertArrayEquals(before, raw(dir, "top.qcow2"));
    assertClean(dir, "top.qcow2");
  }

  private byte[] raw(Path d, String image) throws IOException {
    Path out = Qemu.toRaw(d, image, "view.raw");
    byte[] bytes = Files.readAllBytes(out);
    Files.delete(out);
    return bytes;
  }

  private void assertClean(Path d, String image) {
    Qemu.Result check = Qemu.exec(d, List.of("qemu-img", "check", image));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
  }
}
