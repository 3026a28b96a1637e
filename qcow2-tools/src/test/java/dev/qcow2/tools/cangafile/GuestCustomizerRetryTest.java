package dev.qcow2.tools.cangafile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * virt-customize whose appliance never started is run once more (nothing in the image was touched);
 * any other failure is reported as it is.
 */
@Timeout(30)
class GuestCustomizerRetryTest {
  @TempDir Path dir;

  /**
   * A stand-in for virt-customize: runs RUNS times, the first FAILS of them with STDERR, exit 1.
   */
  private GuestCustomizer fake(int fails, String stderr) throws Exception {
    Path script = dir.resolve("virt-customize");
    Files.writeString(
        script,
        """
        #!/bin/sh
        n=$(cat DIR/runs 2>/dev/null || echo 0)
        n=$((n + 1))
        echo $n > DIR/runs
        if [ $n -le FAILS ]; then
          echo "STDERR" >&2
          exit 1
        fi
        echo customized
        """
            .replace("DIR", dir.toString())
            .replace("FAILS", Integer.toString(fails))
            .replace("STDERR", stderr));
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
    return new GuestCustomizer(script.toString(), Map.of());
  }

  private int runs() throws Exception {
    return Integer.parseInt(Files.readString(dir.resolve("runs")).trim());
  }

  private record Outcome(int status, String out, String err) {}

  private Outcome customize(GuestCustomizer g) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int status =
        g.customize(
            dir.resolve("image.qcow2"),
            List.of("run-command true"),
            List.of(),
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Outcome(
        status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  @Test
  void anApplianceThatDidNotStartIsLaunchedOnceMore() throws Exception {
    Outcome o =
        customize(fake(1, "virt-customize: error: libguestfs error: guestfs_launch failed."));
    assertEquals(0, o.status(), o.err());
    assertEquals(2, runs());
    assertEquals("customized\n", o.out());
    assertTrue(o.err().contains("guestfs_launch failed"), o.err());
    assertTrue(
        o.err().contains("the libguestfs appliance did not start; launching it once more"),
        o.err());
  }

  @Test
  void anApplianceThatNeverStartsFailsAfterTheSecondLaunch() throws Exception {
    Outcome o =
        customize(fake(5, "virt-customize: error: libguestfs error: guestfs_launch failed."));
    assertEquals(1, o.status());
    assertEquals(2, runs());
  }

  @Test
  void anyOtherFailureIsNotRetried() throws Exception {
    Outcome o = customize(fake(1, "virt-customize: error: no operating systems were found"));
    assertEquals(1, o.status());
    assertEquals(1, runs());
    assertFalse(o.err().contains("once more"), o.err());
  }
}
