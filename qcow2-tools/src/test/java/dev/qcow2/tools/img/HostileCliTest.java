package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A hostile image given to the CLI: every verb that reads it prints one line to stderr naming the
 * image and the problem, prints no stack trace and no "internal error", exits non-zero, and leaves
 * the image as it was. One test per defect; each runs info, check, map and convert, or, for a bad
 * backing file (which info and check do not open, as in qemu-img), info --backing-chain, map and
 * convert.
 */
class HostileCliTest {
  private static final List<List<String>> VERBS =
      List.of(List.of("info"), List.of("check"), List.of("map"), List.of("convert", "-O", "raw"));
  private static final List<List<String>> CHAIN_VERBS =
      List.of(List.of("info", "--backing-chain"), List.of("map"), List.of("convert", "-O", "raw"));

  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(
      strings = {
        "l1-size-2^31",
        "nb-snapshots-2^31",
        "cluster-bits-30",
        "refcount-table-clusters-huge",
        "header-extension-length-all-ones",
        "l1-offset-misaligned",
        "backing-json-pseudo-name",
        "backing-nbd",
        "backing-loop",
        "backing-name-with-nul",
        "version-4",
        "unknown-incompatible-feature",
        "snapshot-extra-data-all-ones",
        "truncated-header"
      })
  void hostileImageGivesOneLineAndANonZeroExit(String defect) throws IOException {
    Path image = make(defect);
    byte[] before = Files.readAllBytes(image);
    for (List<String> verb : defect.startsWith("backing-") ? CHAIN_VERBS : VERBS) {
      List<String> args = new java.util.ArrayList<>(List.of("qcow2"));
      args.addAll(verb);
      args.add(image.toString());
      if (verb.get(0).equals("convert")) {
        args.add(dir.resolve("out.raw").toString());
      }
      Cli.Result r =
          assertTimeoutPreemptively(
              Duration.ofSeconds(20), () -> Cli.run(args.toArray(new String[0])));
      String what = defect + ", qcow2 " + String.join(" ", verb) + ": ";
      assertNotEquals(0, r.exitCode(), what + "exit code");
      assertTrue(
          r.stderr().endsWith("\n") && r.stderr().indexOf('\n') == r.stderr().length() - 1,
          what + "one line on stderr:\n" + r.stderr());
      // info --backing-chain may name the bad backing file instead of the image that names it.
      String backingName =
          defect.equals("backing-json-pseudo-name")
              ? "json:{"
              : defect.equals("backing-nbd") ? "nbd:" : null;
      assertTrue(
          r.stderr().contains(image.getFileName().toString())
              || backingName != null && r.stderr().contains(backingName),
          what + "names the image: " + r.stderr());
      assertFalse(
          r.stderr().contains("internal error") || r.stderr().contains("Exception"),
          what + r.stderr());
      assertEquals("", r.stdout(), what + "nothing on stdout");
    }
    assertTrue(
        java.util.Arrays.equals(before, Files.readAllBytes(image)), defect + ": the image changed");
  }

  /** A qemu-made image with the one defect poked in, as qemu's iotest 060 does. */
  private Path make(String defect) throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "cluster_size=65536", "base.qcow2", "8M");
    Path base = dir.resolve("base.qcow2");
    Path img = dir.resolve(defect + ".qcow2");
    switch (defect) {
      case "backing-json-pseudo-name" ->
          Qemu.img(
              dir,
              "create",
              "-q",
              "-f",
              "qcow2",
              "-u",
              "-b",
              "json:{\"file.filename\":\"/etc/passwd\"}",
              "-F",
              "raw",
              img.getFileName().toString(),
              "1M");
      case "backing-nbd" ->
          Qemu.img(
              dir,
              "create",
              "-q",
              "-f",
              "qcow2",
              "-u",
              "-b",
              "nbd:localhost:10809",
              "-F",
              "raw",
              img.getFileName().toString(),
              "1M");
      case "backing-loop" -> {
        Qemu.img(
            dir,
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "base.qcow2",
            "-F",
            "qcow2",
            img.getFileName().toString());
        Qemu.img(
            dir, "rebase", "-u", "-F", "qcow2", "-b", img.getFileName().toString(), "base.qcow2");
      }
      case "backing-name-with-nul" -> {
        Qemu.img(
            dir,
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "base.qcow2",
            "-F",
            "qcow2",
            img.getFileName().toString());
        Poke.u8(img, Poke.readU64(img, 8) + 2, 0);
      }
      default -> {
        Qemu.io(dir, "base.qcow2", "write -P 0x11 0 5000");
        if (defect.startsWith("snapshot")) {
          Qemu.img(dir, "snapshot", "-c", "s1", "base.qcow2");
        }
        Files.move(base, img);
        poke(defect, img);
      }
    }
    return img;
  }

  private static void poke(String defect, Path img) throws IOException {
    switch (defect) {
      case "l1-size-2^31" -> Poke.u32(img, 36, 0x80000000L);
      case "nb-snapshots-2^31" -> Poke.u32(img, 60, 0x80000000L);
      case "cluster-bits-30" -> Poke.u32(img, 20, 30);
      case "refcount-table-clusters-huge" -> Poke.u32(img, 56, 0x7fffffffL);
      case "header-extension-length-all-ones" ->
          Poke.u32(img, Poke.readU32(img, 100) + 4, 0xffffffffL);
      case "l1-offset-misaligned" -> Poke.u64(img, 40, Poke.readU64(img, 40) + 8);
      case "version-4" -> Poke.u32(img, 4, 4);
      case "unknown-incompatible-feature" -> Poke.u64(img, 72, 1L << 40);
      case "snapshot-extra-data-all-ones" -> Poke.u32(img, Poke.readU64(img, 64) + 36, 0xffffffffL);
      case "truncated-header" -> {
        try (var ch =
            java.nio.channels.FileChannel.open(img, java.nio.file.StandardOpenOption.WRITE)) {
          ch.truncate(80);
        }
      }
      default -> throw new IllegalArgumentException(defect);
    }
  }
}
