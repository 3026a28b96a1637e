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

  /** The command line with every verb; {@code err} is where a terminal progress bar draws. */
  public static CommandLine commandLine(PrintStream err) {
    CommandLine cmd = new CommandLine(new Qcow2Cli());
    cmd.addSubcommand(new InfoCommand());
    cmd.addSubcommand(new MapCommand());
    cmd.addSubcommand(new ConvertCommand(err));
    cmd.addSubcommand(new CreateCommand());
    cmd.addSubcommand(new IoCommand());
    return cmd;
  }
}
