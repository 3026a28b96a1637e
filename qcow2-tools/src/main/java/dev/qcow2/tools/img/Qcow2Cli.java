package dev.qcow2.tools.img;

import dev.qcow2.tools.Version;
import java.io.PrintStream;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** The {@code qcow2} command: qemu-img's verbs, one subcommand class each. */
@Command(
    name = "qcow2",
    mixinStandardHelpOptions = true,
    versionProvider = Version.class,
    description = "Inspect, create, write and convert qcow2 images, as qemu-img and qemu-io do.",
    synopsisSubcommandLabel = "COMMAND")
public final class Qcow2Cli implements Callable<Integer> {
  @Spec CommandSpec spec;

  private Qcow2Cli() {}

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "Not enough arguments (try 'qcow2 --help')");
  }

  /** Every verb, in the order help lists them. */
  private static final String[] VERBS = {
    "info", "map", "convert", "create", "io", "check", "resize", "compare", "hash", "rebase", "commit",
    "snapshot", "measure", "amend",
  };

  /**
   * The command object of {@code verb}, or null. A switch rather than a table of constructor
   * references: each of those is linked at start-up, and loads its class, whichever verb runs.
   */
  private static Object command(String verb, PrintStream err) {
    return switch (verb) {
      case "info" -> new InfoCommand();
      case "map" -> new MapCommand();
      case "convert" -> new ConvertCommand(err);
      case "create" -> new CreateCommand();
      case "io" -> new IoCommand();
      case "check" -> new CheckCommand();
      case "resize" -> new ResizeCommand();
      case "compare" -> new CompareCommand();
      case "hash" -> new HashCommand(err);
      case "rebase" -> new RebaseCommand(err);
      case "commit" -> new CommitCommand(err);
      case "snapshot" -> new SnapshotCommand();
      case "measure" -> new MeasureCommand();
      case "amend" -> new AmendCommand();
      default -> null;
    };
  }

  /** The command line with every verb; {@code err} is where a terminal progress bar draws. */
  public static CommandLine commandLine(PrintStream err) {
    return commandLine(err, null);
  }

  /**
   * The command line for {@code verb} alone, or with every verb if {@code verb} is not one of
   * them (help, version, a mistake). Building picocli's model of one verb instead of all saves
   * a good part of the start-up time of a short command.
   */
  public static CommandLine commandLine(PrintStream err, String verb) {
    CommandLine cmd = new CommandLine(new Qcow2Cli());
    Object one = verb == null ? null : command(verb, err);
    if (one != null) {
      cmd.addSubcommand(one);
    } else {
      for (String v : VERBS) {
        cmd.addSubcommand(command(v, err));
      }
    }
    CommandLine resize = cmd.getSubcommands().get("resize");
    if (resize != null) {
      // "qcow2 resize FILE -3M": a relative shrink, not an option.
      resize.setUnmatchedOptionsArePositionalParams(true);
    }
    return cmd;
  }
}
