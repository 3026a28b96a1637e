package dev.qcow2.tools.canga;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.tools.cli.JsonOutput;
import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.Layers;
import dev.qcow2.tools.repo.Repositories;
import dev.qcow2.tools.repo.Repository;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code canga base add|list|latest|rm}: read-only bases for layers (oVirt imgbased's workflow).
 */
@Command(
    name = "base",
    description = "manage bases (read-only images that layers build on)",
    subcommands = {
      BaseCommand.Add.class,
      BaseCommand.ListBases.class,
      BaseCommand.Latest.class,
      BaseCommand.Remove.class
    })
final class BaseCommand extends CangaCommand {
  @Override
  int run() {
    spec.commandLine().usage(out());
    return 0;
  }

  static Layers layers(CangaCommand c) throws java.io.IOException {
    return new Layers(c.repos().repo(null));
  }

  @Command(name = "add", description = "register a base: a repository image, or a file added first")
  static final class Add extends CangaCommand {
    @Parameters(index = "0", paramLabel = "NAME")
    String name;

    @Option(names = "--from", required = true, paramLabel = "IMAGE|FILE")
    String from;

    @Override
    int run() throws Exception {
      Repository repo = repos().repo(null);
      String sha;
      if (Files.isRegularFile(Path.of(from))) {
        sha =
            repo.addImage(new Repository.AddRequest(Path.of(from), null, false, null, null), out());
      } else {
        Repositories.Found found = repos().find(from);
        if (found == null) {
          throw new CangaException("Image not found: " + from);
        }
        if (!found.repo().name().equals(repo.name())) {
          throw new CangaException(
              "A base must be an image of the default repository, not of " + found.repo().name());
        }
        sha = found.sha256();
      }
      new Layers(repo).addBase(name, sha);
      out().print("Base " + name + ": " + sha + "\n");
      return 0;
    }
  }

  @Command(name = "list", description = "list the bases")
  static final class ListBases extends CangaCommand {
    @Option(names = "--output", paramLabel = "human|json", defaultValue = "human")
    String output;

    @Override
    int run() throws Exception {
      Layers l = layers(this);
      if (output.equals("json")) {
        ArrayNode a = JsonNodeFactory.instance.arrayNode();
        for (Layers.Base b : l.bases()) {
          ObjectNode o = a.addObject();
          o.put("name", b.name());
          o.put("sha256", b.sha256());
          o.put("creation-time", b.created());
        }
        out().print(JsonOutput.pretty(a) + "\n");
        return 0;
      }
      out().print(String.format("%-24s %-12s %s%n", "NAME", "IMAGE", "CREATED"));
      for (Layers.Base b : l.bases()) {
        out()
            .print(
                String.format(
                    "%-24s %-12s %s%n", b.name(), b.sha256().substring(0, 12), b.created()));
      }
      return 0;
    }
  }

  @Command(name = "latest", description = "print the newest base")
  static final class Latest extends CangaCommand {
    @Override
    int run() throws Exception {
      out().print(layers(this).latestBase().name() + "\n");
      return 0;
    }
  }

  @Command(
      name = "rm",
      aliases = "del",
      description = "forget a base (refused while layers use it)")
  static final class Remove extends CangaCommand {
    @Parameters(index = "0", paramLabel = "NAME")
    String name;

    @Override
    int run() throws Exception {
      layers(this).removeBase(name);
      return 0;
    }
  }
}
