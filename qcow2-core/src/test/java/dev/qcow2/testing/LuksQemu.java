package dev.qcow2.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** qemu-img create for encrypted images, for tests. */
public final class LuksQemu {
  private LuksQemu() {}

  /**
   * Runs {@code qemu-img create ARGS} and returns what it printed. qemu measures PBKDF2 speed in
   * process CPU time, and on a loaded machine a short iter-time can read as no time at all ("Unable
   * to get accurate CPU usage"): that one failure is retried, a few times.
   */
  public static String create(Path dir, String... args) {
    List<String> cmd = new ArrayList<>(List.of("qemu-img", "create"));
    cmd.addAll(List.of(args));
    Qemu.Result r = null;
    for (int attempt = 0; attempt < 5; attempt++) {
      r = Qemu.exec(dir, cmd);
      if (r.exitCode() == 0) {
        return r.stdout();
      }
      if (!r.stderr().contains("Unable to get accurate CPU usage")) {
        break;
      }
    }
    return fail(
        "exit " + r.exitCode() + ": " + String.join(" ", cmd) + "\n" + r.stdout() + r.stderr());
  }
}
