package dev.qcow2.tools;

import dev.qcow2.Qcow2Exception;
import dev.qcow2.tools.canga.CangaCli;
import dev.qcow2.tools.img.Qcow2Cli;
import dev.qcow2.tools.img.UsageException;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import picocli.CommandLine;

/**
 * Entry point of both launchers: the first argument names the command set ({@code qcow2} or
 * {@code canga}), the rest goes to it. Errors are one line, {@code <command>: <message>}, and exit
 * code 1, as qemu-img's; {@code --debug} adds the stack trace.
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
          fail(errWriter, name, describe(e), debug ? e : null);
          return e instanceof UsageException u ? u.exitCode() : 1;
        }
      }
      CommandLine cmd = CangaCli.commandLine(System.getenv(), rest);
      cmd.setOut(outWriter);
      cmd.setErr(errWriter);
      cmd.setParameterExceptionHandler(
          (e, a) -> fail(errWriter, name, e.getMessage(), debug ? e : null));
      cmd.setExecutionExceptionHandler(
          (e, c, parsed) -> fail(errWriter, name, describe(e), debug ? e : null));
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

  /** The one line a user sees for a failure. */
  public static String describe(Exception e) {
    if (e instanceof UsageException || e instanceof CommandLine.ParameterException
        || e instanceof CommandLine.TypeConversionException) {
      // A TypeConversionException is one of ours too: SizeParser's, called from a command's work.
      return e.getMessage();
    }
    if (e instanceof Qcow2Exception) {
      // Already "<image>: <structure> <problem> at offset 0x..".
      return e.getMessage();
    }
    if (e instanceof FileSystemException fse) {
      if (fse.getReason() != null) {
        return fse.getReason();
      }
      String why = e instanceof NoSuchFileException ? "No such file or directory"
          : e instanceof AccessDeniedException ? "Permission denied"
          : e.getClass().getSimpleName();
      return "Could not open '" + fse.getFile() + "': " + why;
    }
    if (e instanceof IOException
        || e instanceof IllegalArgumentException
        || e instanceof IllegalStateException
        || e instanceof UnsupportedOperationException) {
      return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }
    // A bug of ours: say what it was even without --debug.
    return "internal error: " + e;
  }
}
