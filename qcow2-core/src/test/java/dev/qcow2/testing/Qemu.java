package dev.qcow2.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs qemu-img and qemu-io for tests. A missing tool or a failing command fails the test loudly
 * with the command line and what it printed; nothing is skipped.
 */
public final class Qemu {
  private Qemu() {}

  /** The result of one command. */
  public record Result(int exitCode, String stdout, String stderr) {}

  /** Runs {@code command} in {@code dir} and returns its output, whatever its exit code. */
  public static Result exec(Path dir, List<String> command) {
    try {
      Process p = new ProcessBuilder(command).directory(dir.toFile()).start();
      p.getOutputStream().close();
      CompletableFuture<String> out = drain(p.getInputStream());
      CompletableFuture<String> err = drain(p.getErrorStream());
      if (!p.waitFor(10, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        fail("timed out: " + String.join(" ", command));
      }
      return new Result(p.exitValue(), out.join(), err.join());
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot run " + String.join(" ", command) + " (is qemu-utils installed?)", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private static CompletableFuture<String> drain(InputStream in) {
    return CompletableFuture.supplyAsync(
        () -> {
          try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        });
  }

  /** Runs a command that must succeed and returns its standard output. */
  public static String run(Path dir, String... command) {
    Result r = exec(dir, Arrays.asList(command));
    if (r.exitCode() != 0) {
      fail(
          "exit "
              + r.exitCode()
              + ": "
              + String.join(" ", command)
              + "\n"
              + r.stdout()
              + r.stderr());
    }
    return r.stdout();
  }

  public static String img(Path dir, String... args) {
    return run(dir, prepend("qemu-img", args));
  }

  /**
   * Runs qemu-io on {@code image} with one {@code -c} per command. Discards are passed down ({@code
   * --discard=unmap}); qemu-io ignores them by default.
   */
  public static String io(Path dir, String image, String... commands) {
    List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "qcow2", "--discard=unmap"));
    for (String c : commands) {
      cmd.add("-c");
      cmd.add(c);
    }
    cmd.add(image);
    Result r = exec(dir, cmd);
    // qemu-io exits 0 even when a command fails; its messages say so.
    if (r.exitCode() != 0 || r.stdout().contains("failed") || r.stderr().contains("failed")) {
      fail("qemu-io failed: " + String.join(" ", cmd) + "\n" + r.stdout() + r.stderr());
    }
    return r.stdout();
  }

  /** qemu-img's raw view of {@code image}, written to {@code raw}. */
  public static Path toRaw(Path dir, String image, String raw) {
    img(dir, "convert", "-O", "raw", image, raw);
    return dir.resolve(raw);
  }

  private static String[] prepend(String first, String[] rest) {
    String[] all = new String[rest.length + 1];
    all[0] = first;
    System.arraycopy(rest, 0, all, 1, rest.length);
    return all;
  }
}
