package dev.qcow2.tools.img;

import dev.qcow2.tools.cli.UsageException;
import dev.qcow2.tools.cli.Version;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.List;

/** The {@code qcow2} command: qemu-img's verbs, one {@link Verb} class each. */
public final class Qcow2Cli {
  private Qcow2Cli() {}

  /** Every verb, in the order help lists them. */
  private static final String[] VERBS = {
    "info",
    "map",
    "convert",
    "create",
    "io",
    "check",
    "resize",
    "compare",
    "hash",
    "rebase",
    "commit",
    "snapshot",
    "measure",
    "amend",
    "serve",
    "bitmap",
  };

  /** A new object for {@code verb}, or null if there is no such verb. */
  private static Verb verb(String verb) {
    return switch (verb) {
      case "info" -> new InfoCommand();
      case "map" -> new MapCommand();
      case "convert" -> new ConvertCommand();
      case "create" -> new CreateCommand();
      case "io" -> new IoCommand();
      case "check" -> new CheckCommand();
      case "resize" -> new ResizeCommand();
      case "compare" -> new CompareCommand();
      case "hash" -> new HashCommand();
      case "rebase" -> new RebaseCommand();
      case "commit" -> new CommitCommand();
      case "snapshot" -> new SnapshotCommand();
      case "measure" -> new MeasureCommand();
      case "amend" -> new AmendCommand();
      case "serve" -> new ServeCommand();
      case "bitmap" -> new BitmapCommand();
      default -> null;
    };
  }

  /**
   * Runs {@code qcow2 ARGS}: results on {@code out}, warnings on {@code err}, a progress bar on
   * {@code terminal}. Returns the exit code.
   *
   * @throws UsageException for a command line that cannot run
   * @throws Exception whatever the verb failed with
   */
  public static int run(List<String> args, PrintWriter out, PrintWriter err, PrintStream terminal)
      throws Exception {
    String first = args.isEmpty() ? null : args.get(0);
    if (first == null) {
      throw new UsageException("Not enough arguments (try 'qcow2 --help')");
    }
    switch (first) {
      case "-h", "--help", "help" -> {
        out.print(help());
        out.flush();
        return 0;
      }
      case "-V", "--version" -> {
        out.print(Version.line("qcow2") + "\n");
        out.flush();
        return 0;
      }
      default -> {}
    }
    if (first.startsWith("-")) {
      throw new UsageException("Unknown option: '" + first + "'");
    }
    Verb verb = verb(first);
    if (verb == null) {
      throw new UsageException("Command not found: " + first);
    }
    verb.out = out;
    verb.err = err;
    verb.terminal = terminal;
    if (!verb.parse(args.subList(1, args.size()))) {
      return 0;
    }
    return verb.run();
  }

  /** The list of verbs. */
  static String help() {
    StringBuilder sb = new StringBuilder();
    sb.append("Usage: qcow2 [-hV] [--debug] COMMAND [OPTIONS] [ARGS]\n")
        .append("Inspect, create, write and convert qcow2 images, as qemu-img and qemu-io do.\n\n")
        .append(
            "  -h, --help      Show this help and exit; 'qcow2 COMMAND --help' shows a command's.\n")
        .append("  -V, --version   Print the version and exit.\n")
        .append("      --debug     Print the stack trace of a failure.\n\n")
        .append("Commands:\n");
    for (String name : VERBS) {
      sb.append("  ")
          .append(name)
          .append(" ".repeat(10 - name.length()))
          .append(verb(name).description())
          .append('\n');
    }
    return sb.toString();
  }
}
