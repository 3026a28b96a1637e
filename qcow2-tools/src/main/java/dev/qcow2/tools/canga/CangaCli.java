package dev.qcow2.tools.canga;

import dev.qcow2.tools.cli.Colour;
import dev.qcow2.tools.cli.Version;
import dev.qcow2.tools.repo.Repositories;
import dev.qcow2.tools.repo.RepositoryConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
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
    description = "Keep a repository of qcow2 images and compressed deltas (Cangallo compatible).")
public final class CangaCli implements Callable<Integer> {
  @Spec CommandLine.Model.CommandSpec spec;

  @Option(
      names = "--config",
      paramLabel = "FILE",
      scope = ScopeType.INHERIT,
      description =
          "Configuration file (default: $CANGALLO_HOME/config.yaml, else ~/.cangallo/config.yaml).")
  Path config;

  private final Map<String, String> env;
  private final Colour colour;
  private Repositories repositories;

  private CangaCli(Map<String, String> env, Colour colour) {
    this.env = env;
    this.colour = colour;
  }

  /** The command line with this process's environment. */
  public static CommandLine commandLine() {
    return commandLine(System.getenv());
  }

  /** The command line with {@code env} standing for the environment (HOME, CANGALLO_HOME). */
  public static CommandLine commandLine(Map<String, String> env) {
    return commandLine(env, List.of());
  }

  /**
   * The command line to run {@code args} with: with the one verb they name, if they name exactly
   * one; with none for the version; or else with every verb (help, a mistake, an ambiguous
   * abbreviation: picocli's words for it then). picocli builds the model of each verb it is given,
   * which for all of them took about 50 ms of every command's start.
   */
  public static CommandLine commandLine(Map<String, String> env, List<String> args) {
    return commandLine(env, args, Colour.stdoutIsTerminal());
  }

  /** As above, with {@code terminal} saying whether standard output is a terminal (for tests). */
  static CommandLine commandLine(Map<String, String> env, List<String> args, boolean terminal) {
    Colour colour = Colour.decide(terminal, env);
    CommandLine cmd = new CommandLine(new CangaCli(env, colour));
    String verb = verbOf(args);
    Class<?> one = verbClass(verb);
    if (one != null) {
      cmd.addSubcommand(one);
    } else if (verb == null && (args.contains("-V") || args.contains("--version"))) {
      // The version needs no verb.
    } else {
      for (String[] names : VERBS) {
        cmd.addSubcommand(command(names[0]));
      }
    }
    cmd.setAbbreviatedSubcommandsAllowed(true);
    // After the verbs are added: picocli hands the scheme to the subcommands present.
    cmd.setColorScheme(CommandLine.Help.defaultColorScheme(colour.ansi()));
    return cmd;
  }

  /** Every verb's name and aliases, in the order help lists them. */
  static final String[][] VERBS = {
    {"add"},
    {"base"},
    {"build"},
    {"check_system", "check-system"},
    {"create"},
    {"del", "rm"},
    {"deltag", "rmtag"},
    {"deploy"},
    {"export"},
    {"fetch"},
    {"import"},
    {"layer"},
    {"layout"},
    {"list"},
    {"overlay"},
    {"pull"},
    {"push"},
    {"show"},
    {"sign"},
    {"tag"},
    {"verify"},
    {"store"},
    {"images"},
    {"layers"},
    {"instances"},
    {"instance"},
    {"mount"},
    {"umount"},
    {"wipe"},
    {"serve"},
  };

  /** The class of the verb named {@code name} (not an alias). */
  private static Class<?> command(String name) {
    return switch (name) {
      case "add" -> AddCommand.class;
      case "base" -> BaseCommand.class;
      case "build" -> BuildCommand.class;
      case "check_system" -> CheckSystemCommand.class;
      case "create" -> CreateCommand.class;
      case "del" -> DelCommand.class;
      case "deltag" -> DeltagCommand.class;
      case "deploy" -> DeployCommand.class;
      case "export" -> ExportCommand.class;
      case "fetch" -> FetchCommand.class;
      case "import" -> ImportCommand.class;
      case "layer" -> LayerCommand.class;
      case "layout" -> LayoutCommand.class;
      case "list" -> ListCommand.class;
      case "overlay" -> OverlayCommand.class;
      case "pull" -> PullCommand.class;
      case "push" -> PushCommand.class;
      case "show" -> ShowCommand.class;
      case "sign" -> SignCommand.class;
      case "tag" -> TagCommand.class;
      case "verify" -> VerifyCommand.class;
      case "store" -> StoreCommands.Store.class;
      case "images" -> StoreCommands.Images.class;
      case "layers" -> StoreCommands.LayersList.class;
      case "instances" -> StoreCommands.Instances.class;
      case "instance" -> StoreCommands.Instance.class;
      case "mount" -> StoreCommands.Mount.class;
      case "umount" -> StoreCommands.Umount.class;
      case "wipe" -> StoreCommands.Wipe.class;
      case "serve" -> NbdServeCommand.class;
      default -> throw new IllegalArgumentException(name);
    };
  }

  /**
   * The first argument that is not an option of canga itself (or the value of --config); or null.
   */
  static String verbOf(List<String> args) {
    for (int i = 0; i < args.size(); i++) {
      String a = args.get(i);
      if (a.equals("--config")) {
        i++;
      } else if (a.equals("--") || a.equals("--help") || a.matches("-[hV]*h[hV]*")) {
        // Before a verb, help lists every verb.
        return null;
      } else if (!a.startsWith("-")) {
        return a;
      }
    }
    return null;
  }

  /**
   * The class of the one verb {@code word} names, as Thor reads it: its name or an alias, or else a
   * prefix of the names and aliases of one verb alone; null if it names none or several.
   */
  static Class<?> verbClass(String word) {
    if (word == null || word.isEmpty()) {
      return null;
    }
    String match = null;
    for (String[] names : VERBS) {
      for (String n : names) {
        if (n.equals(word)) {
          return command(names[0]);
        }
        if (n.startsWith(word)) {
          if (match != null && !match.equals(names[0])) {
            return null;
          }
          match = names[0];
        }
      }
    }
    return match == null ? null : command(match);
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

  /** Whether tables may be coloured: standard output a terminal, NO_COLOR unset. */
  Colour colour() {
    return colour;
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
