package dev.qcow2.tools.canga;

import dev.qcow2.tools.Version;
import dev.qcow2.tools.repo.Repositories;
import dev.qcow2.tools.repo.RepositoryConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * The {@code canga} command: a drop-in replacement of Cangallo's {@code canga}, the repository of
 * qcow2 images and compressed deltas. The same verbs, options, aliases, configuration, repository
 * layout and index; everything native except changes inside a guest (virt-customize).
 *
 * <p>Verbs may be abbreviated to any unambiguous prefix ({@code canga li}), as with Thor. Handled
 * errors print one line and exit with status 255; configuration and I/O errors exit with 1.
 */
@Command(
    name = "canga",
    mixinStandardHelpOptions = true,
    versionProvider = Version.class,
    description = "Keep a repository of qcow2 images and compressed deltas (Cangallo compatible).",
    subcommands = {
      AddCommand.class,
      BaseCommand.class,
      BuildCommand.class,
      CheckSystemCommand.class,
      CreateCommand.class,
      DelCommand.class,
      DeltagCommand.class,
      DeployCommand.class,
      ExportCommand.class,
      FetchCommand.class,
      ImportCommand.class,
      LayerCommand.class,
      LayoutCommand.class,
      ListCommand.class,
      OverlayCommand.class,
      PullCommand.class,
      ShowCommand.class,
      SignCommand.class,
      TagCommand.class,
      VerifyCommand.class,
      StoreCommands.Store.class,
      StoreCommands.Images.class,
      StoreCommands.LayersList.class,
      StoreCommands.Instances.class,
      StoreCommands.Instance.class,
      StoreCommands.Mount.class,
      StoreCommands.Umount.class,
      StoreCommands.Wipe.class
    })
public final class CangaCli implements Callable<Integer> {
  @Spec CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--config",
      paramLabel = "FILE",
      scope = ScopeType.INHERIT,
      description = "Configuration file (default: $CANGALLO_HOME/config.yaml, else ~/.cangallo/config.yaml).")
  Path config;

  private final Map<String, String> env;
  private Repositories repositories;

  private CangaCli(Map<String, String> env) {
    this.env = env;
  }

  /** The command line with this process's environment. */
  public static CommandLine commandLine() {
    return commandLine(System.getenv());
  }

  /** The command line with {@code env} standing for the environment (HOME, CANGALLO_HOME). */
  public static CommandLine commandLine(Map<String, String> env) {
    CommandLine cmd = new CommandLine(new CangaCli(env));
    cmd.setAbbreviatedSubcommandsAllowed(true);
    return cmd;
  }

  /** Without a verb: the list of verbs, as Cangallo's {@code canga}. */
  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getOut());
    return 0;
  }

  Map<String, String> env() {
    return env;
  }

  /** The configured repositories, the configuration created on first use. */
  Repositories repositories() throws IOException {
    if (repositories == null) {
      Path file = config != null ? config : RepositoryConfig.defaultFile(env);
      repositories = new Repositories(RepositoryConfig.load(file, RepositoryConfig.userHome(env)));
    }
    return repositories;
  }
}
