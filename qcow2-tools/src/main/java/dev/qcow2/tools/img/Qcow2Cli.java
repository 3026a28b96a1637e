package dev.qcow2.tools.img;

import dev.qcow2.tools.Version;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
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
    Map<String, Supplier<Object>> verbs = new LinkedHashMap<>();
    verbs.put("info", InfoCommand::new);
    verbs.put("map", MapCommand::new);
    verbs.put("convert", () -> new ConvertCommand(err));
    verbs.put("create", CreateCommand::new);
    verbs.put("io", IoCommand::new);
    verbs.put("check", CheckCommand::new);
    verbs.put("resize", ResizeCommand::new);
    verbs.put("compare", CompareCommand::new);
    verbs.put("hash", () -> new HashCommand(err));
    verbs.put("rebase", () -> new RebaseCommand(err));
    verbs.put("commit", () -> new CommitCommand(err));
    verbs.put("snapshot", SnapshotCommand::new);
    verbs.put("measure", MeasureCommand::new);
    verbs.put("amend", AmendCommand::new);
    CommandLine cmd = new CommandLine(new Qcow2Cli());
    if (verb != null && verbs.containsKey(verb)) {
      cmd.addSubcommand(verbs.get(verb).get());
    } else {
      for (Supplier<Object> s : verbs.values()) {
        cmd.addSubcommand(s.get());
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
