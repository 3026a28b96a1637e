package dev.qcow2.tools;

import dev.qcow2.tools.canga.CangaCli;
import dev.qcow2.tools.cli.ErrorLine;
import dev.qcow2.tools.cli.UsageException;
import dev.qcow2.tools.img.Qcow2Cli;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import picocli.CommandLine;

/**
 * Entry point of both launchers: the first argument names the command set ({@code qcow2} or {@code
 * canga}), the rest goes to it. Errors are one line, {@code <command>: <message>}, and exit code 1,
 * as qemu-img's; {@code --debug} adds the stack trace.
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    System.exit(run(System.out, System.err, args));
  }

  /** Runs one command and returns its exit code; never exits the JVM. */
  public static int run(PrintStream out, PrintStream err, String... args) {
    if (args.length == 0 || !(args[0].equals("qcow2") || args[0].equals("canga"))) {
      err.print("qcow2-tools: the first argument must be qcow2 or canga\n");
      err.flush();
      return 1;
    }
    String name = args[0];
    List<String> rest = new ArrayList<>(Arrays.asList(args).subList(1, args.length));
    int dashes = rest.indexOf("--");
    boolean debug = rest.subList(0, dashes < 0 ? rest.size() : dashes).remove("--debug");
    PrintWriter outWriter = new PrintWriter(new OutputStreamWriter(out, StandardCharsets.UTF_8));
    PrintWriter errWriter = new PrintWriter(new OutputStreamWriter(err, StandardCharsets.UTF_8));
    try {
      if (name.equals("qcow2")) {
        try {
          return Qcow2Cli.run(rest, outWriter, errWriter, err);
        } catch (Exception e) {
          fail(errWriter, name, ErrorLine.describe(e), debug ? e : null);
          return e instanceof UsageException u ? u.exitCode() : 1;
        }
      }
      CommandLine cmd = CangaCli.commandLine(System.getenv(), rest);
      cmd.setOut(outWriter);
      cmd.setErr(errWriter);
      cmd.setParameterExceptionHandler(
          (e, a) -> fail(errWriter, name, e.getMessage(), debug ? e : null));
      cmd.setExecutionExceptionHandler(
          (e, c, parsed) -> fail(errWriter, name, ErrorLine.describe(e), debug ? e : null));
      return cmd.execute(rest.toArray(String[]::new));
    } finally {
      outWriter.flush();
      errWriter.flush();
    }
  }

  private static int fail(PrintWriter err, String name, String message, Throwable debugTrace) {
    err.print(name + ": " + message + "\n");
    if (debugTrace != null) {
      debugTrace.printStackTrace(err);
    }
    err.flush();
    return 1;
  }
}
