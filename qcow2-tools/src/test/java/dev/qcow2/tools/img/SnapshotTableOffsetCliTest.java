package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A misaligned snapshots_offset with nb_snapshots = 0, through every verb that opens the image:
 * qemu-img refuses each (check too, with "ERROR snapshot table offset invalid" and no report, and
 * check -r all repairs nothing), and so do we, in qemu's words, leaving the image as it was.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SnapshotTableOffsetCliTest {
  @TempDir Path dir;

  @ParameterizedTest(name = "{0}")
  @ValueSource(
      strings = {
        "info IMG",
        "info --output=json IMG",
        "check IMG",
        "check --output=json IMG",
        "check -r leaks IMG",
        "check -r all IMG",
        "map --output=json IMG",
        "compare IMG OTHER",
        "convert -O raw IMG OUT",
        "snapshot -l IMG",
        "rebase -b OTHER -F qcow2 IMG",
        "resize IMG +1M"
      })
  void misalignedSnapshotTableWithoutSnapshotsIsRefusedLikeQemu(String verb) throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "cluster_size=65536", "other.qcow2", "4M");
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "cluster_size=65536", "img.qcow2", "4M");
    Qemu.io(dir, "img.qcow2", "write -P 0x11 0 64k");
    Path img = dir.resolve("img.qcow2");
    Poke.u64(img, 64, 0x10200);
    byte[] before = Files.readAllBytes(img);

    // compare's exit code for an error is 2 (1 means "images differ").
    int exitCode = verb.startsWith("compare") ? 2 : 1;
    Qemu.Result qemu = Qemu.exec(dir, command("qemu-img", verb, false));
    assertEquals(
        exitCode, qemu.exitCode(), "qemu-img " + verb + ": " + qemu.stdout() + qemu.stderr());
    assertEquals("", qemu.stdout(), "qemu-img " + verb);
    String qemuWords =
        verb.startsWith("check")
            ? "qemu-img: ERROR snapshot table offset invalid\n"
                + "qemu-img: Check failed: Invalid argument\n"
            : "qemu-img: Could not open 'img.qcow2': Snapshot table offset invalid\n";
    assertEquals(qemuWords, qemu.stderr(), "qemu-img " + verb);
    assertArrayEquals(before, Files.readAllBytes(img), "qemu-img " + verb + " changed the image");

    Cli.Result ours = Cli.run(command("qcow2", verb, true).toArray(new String[0]));
    assertEquals(exitCode, ours.exitCode(), "qcow2 " + verb + ": " + ours.stdout() + ours.stderr());
    assertEquals("", ours.stdout(), "qcow2 " + verb);
    assertEquals(
        "qcow2: "
            + img
            + ": snapshot table offset invalid: 0x10200 (it must be a multiple of the cluster"
            + " size, 65536, below 2^63) at offset 0x40\n",
        ours.stderr(),
        "qcow2 " + verb);
    assertArrayEquals(before, Files.readAllBytes(img), "qcow2 " + verb + " changed the image");
  }

  /** {@code tool} and the words of {@code verb}, with IMG, OTHER and OUT as files in the folder. */
  private List<String> command(String tool, String verb, boolean absolute) {
    List<String> c = new ArrayList<>(List.of(tool));
    for (String w : verb.split(" ")) {
      String file =
          switch (w) {
            case "IMG" -> "img.qcow2";
            case "OTHER" -> "other.qcow2";
            case "OUT" -> "out.raw";
            default -> null;
          };
      c.add(file == null ? w : absolute ? dir.resolve(file).toString() : file);
    }
    return c;
  }
}
