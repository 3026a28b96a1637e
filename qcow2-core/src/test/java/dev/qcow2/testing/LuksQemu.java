package dev.qcow2.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** qemu-img create and amend for encrypted images, for tests. */
public final class LuksQemu {
  private LuksQemu() {}

  /**
   * Runs {@code qemu-img create ARGS} and returns what it printed. qemu measures PBKDF2 speed in
   * process CPU time, and on a loaded machine a short iter-time can read as no time at all ("Unable
   * to get accurate CPU usage"): that one failure is retried, a few times.
   */
  public static String create(Path dir, String... args) {
    List<String> cmd = new ArrayList<>(List.of("create"));
    cmd.addAll(List.of(args));
    Qemu.Result r = img(dir, cmd.toArray(String[]::new));
    if (r.exitCode() == 0) {
      return r.stdout();
    }
    return fail(
        "exit "
            + r.exitCode()
            + ": qemu-img "
            + String.join(" ", cmd)
            + "\n"
            + r.stdout()
            + r.stderr());
  }

  /**
   * Runs {@code qemu-img ARGS}, whatever its exit code, retrying qemu's PBKDF2 timing failure as
   * {@link #create} does (qemu-img amend adding a key slot measures the same way).
   */
  public static Qemu.Result img(Path dir, String... args) {
    List<String> cmd = new ArrayList<>(List.of("qemu-img"));
    cmd.addAll(List.of(args));
    Qemu.Result r = null;
    // qemu reads the thread's CPU clock, which advances in scheduler ticks: runs straight after
    // one another can all fall inside one tick (a clean-clone run met five in 65 ms), so the
    // attempts are spread over a few ticks.
    for (int attempt = 0; attempt < 20; attempt++) {
      r = Qemu.exec(dir, cmd);
      if (r.exitCode() == 0 || !r.stderr().contains("Unable to get accurate CPU usage")) {
        break;
      }
      try {
        Thread.sleep(20L * (attempt + 1));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    return r;
  }
}
