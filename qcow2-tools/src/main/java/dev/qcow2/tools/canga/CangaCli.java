package dev.qcow2.tools.canga;

import dev.qcow2.tools.Version;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** The {@code canga} command: the image repository. Only --help and --version exist so far. */
@Command(
    name = "canga",
    mixinStandardHelpOptions = true,
    versionProvider = Version.class,
    description = "Keep a repository of qcow2 images (coming soon).")
public final class CangaCli implements Callable<Integer> {
  static final String COMING = "image repository commands are coming; see README";

  @Parameters(paramLabel = "COMMAND", arity = "0..*", hidden = true)
  List<String> rest;

  private CangaCli() {}

  public static CommandLine commandLine() {
    CommandLine cmd = new CommandLine(new CangaCli());
    // Unknown options are "coming" too, not a usage error.
    cmd.setUnmatchedArgumentsAllowed(true);
    cmd.setUnmatchedOptionsArePositionalParams(true);
    return cmd;
  }

  @Override
  public Integer call() {
    throw new UnsupportedOperationException(COMING);
  }
}
