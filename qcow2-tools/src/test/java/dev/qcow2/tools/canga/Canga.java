package dev.qcow2.tools.canga;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import dev.qcow2.tools.cli.ErrorLine;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;

/** A canga home in a test folder: runs {@code canga --config <home>/config.yaml ...} in-process. */
final class Canga {
  final Path dir;
  final Path home;
  final Path config;

  Canga(Path dir) {
    this.dir = dir;
    this.home = dir.resolve("cangallo");
    this.config = home.resolve("config.yaml");
  }

  Path repo(String name) {
    return home.resolve(name);
  }

  Path defaultRepo() {
    return repo("default");
  }

  /**
   * Writes a config with the default repo plus {@code extra} (YAML lines under repos:, 4-space
   * indented).
   */
  void config(String extra) throws IOException {
    Files.createDirectories(home);
    Files.writeString(
        config,
        "default_repo: default\nrepos:\n    default:\n        type: local\n        path: "
            + defaultRepo()
            + "\n"
            + extra);
  }

  /**
   * Starts {@code canga --config <home>/config.yaml ARGS} in a child JVM with {@code env} added to
   * its environment, its output and errors in {@code log}: for tests that kill it or run two at
   * once.
   */
  Process start(Path log, Map<String, String> env, String... args) throws IOException {
    List<String> argv =
        new ArrayList<>(
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                "-Daws.disableEc2Metadata=true",
                "dev.qcow2.tools.Main",
                "canga",
                "--config",
                config.toString()));
    argv.addAll(List.of(args));
    ProcessBuilder pb =
        new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().putAll(env);
    return pb.start();
  }

  /** The text of {@code log}, or why it cannot be read: for failure messages. */
  static String text(Path log) {
    try {
      return Files.readString(log);
    } catch (IOException e) {
      return e.toString();
    }
  }

  Cli.Result run(String... args) {
    List<String> all = new ArrayList<>(List.of("canga", "--config", config.toString()));
    all.addAll(List.of(args));
    return Cli.run(all.toArray(String[]::new));
  }

  /**
   * Runs {@code canga --config CONFIG ARGS} in-process with {@code env} as the environment, as if
   * standard output were a terminal.
   */
  Cli.Result onTerminal(Map<String, String> env, String... args) {
    List<String> all = new ArrayList<>(List.of("--config", config.toString()));
    all.addAll(List.of(args));
    return inProcess(env, true, all);
  }

  /**
   * Runs canga's {@code args} in-process through its command line as {@code bin/canga} would, with
   * {@code env} standing for the environment and {@code terminal} for whether standard output is a
   * terminal.
   */
  static Cli.Result inProcess(Map<String, String> env, boolean terminal, List<String> args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    PrintWriter errWriter = new PrintWriter(err);
    CommandLine cmd = CangaCli.commandLine(env, args, terminal);
    cmd.setOut(new PrintWriter(out));
    cmd.setErr(errWriter);
    cmd.setParameterExceptionHandler((e, a) -> fail(errWriter, e.getMessage()));
    cmd.setExecutionExceptionHandler((e, c, parsed) -> fail(errWriter, ErrorLine.describe(e)));
    int code = cmd.execute(args.toArray(String[]::new));
    cmd.getOut().flush();
    errWriter.flush();
    return new Cli.Result(code, out.toString(), err.toString());
  }

  private static int fail(PrintWriter err, String message) {
    err.print("canga: " + message + "\n");
    err.flush();
    return 1;
  }

  /** Runs and asserts exit status 0, returning the result. */
  Cli.Result ok(String... args) {
    Cli.Result r = run(args);
    assertEquals(
        0,
        r.exitCode(),
        "canga " + String.join(" ", args) + "\nstdout: " + r.stdout() + "\nstderr: " + r.stderr());
    return r;
  }

  /** The sha256 that {@code add} printed. */
  static String sha(Cli.Result addResult) {
    for (String line : addResult.stdout().split("\n")) {
      if (line.startsWith("Image SHA256: ")) {
        return line.substring("Image SHA256: ".length());
      }
    }
    throw new AssertionError("no Image SHA256 line in: " + addResult.stdout());
  }

  /** A qcow2 image with qemu-io writes ("write -P 0x11 0 1M" ...). */
  Path image(String name, String size, String... writes) {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", name, size);
    Path p = dir.resolve(name);
    if (writes.length > 0) {
      Qemu.io(dir, p.toString(), writes);
    }
    return p;
  }

  /** sha256sum of qemu-img convert -O raw: the reference image id. */
  String referenceSha(Path image) throws Exception {
    Path raw = dir.resolve("ref-" + System.nanoTime() + ".raw");
    Qemu.img(dir, "convert", "-O", "raw", image.toString(), raw.toString());
    try {
      return Qemu.run(dir, "sha256sum", raw.toString()).substring(0, 64);
    } finally {
      Files.deleteIfExists(raw);
    }
  }

  /** qemu-img check passes and qemu-img compare finds {@code stored} equal to {@code original}. */
  void assertStoredImageSound(Path stored, Path original) {
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", stored.toString()));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    Qemu.Result compare =
        Qemu.exec(dir, List.of("qemu-img", "compare", original.toString(), stored.toString()));
    assertEquals(0, compare.exitCode(), compare.stdout() + compare.stderr());
  }
}
