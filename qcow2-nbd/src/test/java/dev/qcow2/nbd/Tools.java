package dev.qcow2.nbd;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs the clients nobody here wrote (nbdinfo, nbdcopy, qemu-img, qemu-io), each with a time limit:
 * a process still running after it is killed and the test fails.
 */
final class Tools {
  private Tools() {}

  static final long LIMIT_SECONDS = 120;

  record Result(int exitCode, String stdout, String stderr) {}

  static Result exec(Path dir, List<String> command) {
    try {
      Process p = new ProcessBuilder(command).directory(dir.toFile()).start();
      p.getOutputStream().close();
      CompletableFuture<String> out = drain(p.getInputStream());
      CompletableFuture<String> err = drain(p.getErrorStream());
      if (!p.waitFor(LIMIT_SECONDS, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
        fail("timed out after " + LIMIT_SECONDS + " s: " + String.join(" ", command));
      }
      return new Result(p.exitValue(), out.join(), err.join());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot run " + String.join(" ", command), e);
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

  /** Runs a command that must succeed; returns its standard output. */
  static String run(Path dir, String... command) {
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
}
