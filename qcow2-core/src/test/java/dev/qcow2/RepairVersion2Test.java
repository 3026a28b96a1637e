package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * check -r all on a version 2 image: its header ends at byte 72, where the extensions begin, so the
 * repair must not write the version 3 feature fields there.
 */
@Timeout(60)
class RepairVersion2Test {
  @TempDir Path dir;

  @Test
  void repairAllKeepsTheExtensionsOfAVersion2Header() throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "base.qcow2", "4M");
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "compat=0.10",
        "-b",
        "base.qcow2",
        "-F",
        "qcow2",
        "over.qcow2");
    Qemu.io(dir, "over.qcow2", "write -P 3 0 64k");
    Path path = dir.resolve("over.qcow2");
    // A lost refcount (the data cluster's): a corruption that only -r all repairs.
    long refBlock = Poke.readU64(path, Poke.readU64(path, 48));
    long data =
        Poke.readU64(path, Poke.readU64(path, Poke.readU64(path, 40)) & L1Entry.OFFSET_MASK)
            & L2Entry.OFFSET_MASK;
    Poke.u16(path, refBlock + 2 * (data >>> 16), 0);
    byte[] headerBefore = java.util.Arrays.copyOf(Files.readAllBytes(path), 512);
    CheckReport after = ImageChecker.check(path, ImageChecker.Repair.ALL);
    assertTrue(after.isClean(), after.messages().toString());
    byte[] headerAfter = java.util.Arrays.copyOf(Files.readAllBytes(path), 512);
    assertEquals(
        -1,
        java.util.Arrays.mismatch(headerBefore, 72, 512, headerAfter, 72, 512),
        "the extensions after the version 2 header are unchanged");
    String info = Qemu.img(dir, "info", "--output=json", "over.qcow2");
    assertTrue(info.contains("\"backing-filename-format\": \"qcow2\""), info);
    Qemu.img(dir, "check", "over.qcow2");
  }
}
