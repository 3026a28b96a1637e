package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs one qemu-img command line and the same line through {@code qcow2}, and asserts they print
 * the same. File arguments are absolute so both resolve them alike whatever their working folder.
 */
final class QemuParity {
  private static final ObjectMapper JSON = new ObjectMapper();

  private QemuParity() {}

  /** Both succeed and print byte-identical standard output, which is returned. */
  static String assertSameOutput(Path dir, String... args) {
    String expected = Qemu.img(dir, args);
    Cli.Result ours = Cli.run(prepend("qcow2", args));
    assertEquals("", ours.stderr(), "our stderr for " + String.join(" ", args));
    assertEquals(0, ours.exitCode(), "our exit code for " + String.join(" ", args));
    assertEquals(expected, ours.stdout(), "stdout of " + String.join(" ", args));
    return expected;
  }

  /** As {@link #assertSameOutput}, but first compares the parsed trees for a readable diff. */
  static String assertSameJson(Path dir, String... args) throws Exception {
    String expected = Qemu.img(dir, args);
    Cli.Result ours = Cli.run(prepend("qcow2", args));
    assertEquals(0, ours.exitCode(), "exit code; stderr: " + ours.stderr());
    assertEquals(JSON.readTree(expected), JSON.readTree(ours.stdout()), String.join(" ", args));
    assertEquals(expected, ours.stdout(), "byte-exact JSON of " + String.join(" ", args));
    return expected;
  }

  /** Both fail with exit code 1, the same stdout, and the same one-line message on stderr. */
  static void assertSameFailure(Path dir, String... args) {
    List<String> cmd = new ArrayList<>(List.of("qemu-img"));
    cmd.addAll(List.of(args));
    Qemu.Result expected = Qemu.exec(dir, cmd);
    Cli.Result ours = Cli.run(prepend("qcow2", args));
    assertEquals(1, expected.exitCode(), "qemu-img exit code");
    assertEquals(1, ours.exitCode(), "our exit code");
    assertEquals(expected.stdout(), ours.stdout(), "stdout before the failure");
    assertEquals(
        expected.stderr().replaceFirst("^qemu-img: ", "qcow2: "), ours.stderr(), "the error line");
  }

  static String[] prepend(String first, String... rest) {
    String[] all = new String[rest.length + 1];
    all[0] = first;
    System.arraycopy(rest, 0, all, 1, rest.length);
    return all;
  }
}
