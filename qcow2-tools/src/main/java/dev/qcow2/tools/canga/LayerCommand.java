package dev.qcow2.tools.canga;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.tools.cli.JsonOutput;
import dev.qcow2.tools.repo.Layers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code canga layer add|list|rm|commit}: writable overlays on bases, named BASE+N. */
@Command(
    name = "layer",
    description = "manage writable layers on bases",
    subcommands = {
      LayerCommand.Add.class,
      LayerCommand.ListLayers.class,
      LayerCommand.Remove.class,
      LayerCommand.Commit.class
    })
final class LayerCommand extends CangaCommand {
  @Override
  int run() {
    spec.commandLine().usage(out());
    return 0;
  }

  @Command(
      name = "add",
      description = "a new layer on the latest layer of the latest base (or of BASE)")
  static final class Add extends CangaCommand {
    @Parameters(index = "0", arity = "0..1", paramLabel = "BASE")
    String base;

    @Override
    int run() throws Exception {
      Layers.Layer l = BaseCommand.layers(this).addLayer(base);
      out().print(l.name() + "\n");
      return 0;
    }
  }

  /** {@code layer list}, and under its own name {@code canga layers}. */
  @Command(name = "list", description = "list the layers")
  static class ListLayers extends CangaCommand {
    @Option(names = "--output", paramLabel = "human|json", defaultValue = "human")
    String output;

    @Override
    int run() throws Exception {
      Layers layers = BaseCommand.layers(this);
      if (output.equals("json")) {
        ArrayNode a = JsonNodeFactory.instance.arrayNode();
        for (Layers.Layer l : layers.layers()) {
          ObjectNode o = a.addObject();
          o.put("name", l.name());
          o.put("base", l.base());
          o.put("parent", l.parent());
          o.put("path", layers.layerPath(l.name()).toString());
          o.put("creation-time", l.created());
        }
        out().print(JsonOutput.pretty(a) + "\n");
        return 0;
      }
      out().print(String.format("%-24s %-24s %s%n", "NAME", "ON", "CREATED"));
      for (Layers.Layer l : layers.layers()) {
        out()
            .print(
                String.format(
                    "%-24s %-24s %s%n",
                    l.name(), l.parent() != null ? l.parent() : l.base(), l.created()));
      }
      return 0;
    }
  }

  @Command(
      name = "rm",
      aliases = "del",
      description = "remove a layer (refused while another layer is on it)")
  static final class Remove extends CangaCommand {
    @Parameters(index = "0", paramLabel = "NAME")
    String name;

    @Override
    int run() throws Exception {
      BaseCommand.layers(this).removeLayer(name);
      return 0;
    }
  }

  @Command(
      name = "commit",
      description = "store a layer as a repository image: a compressed delta on its base")
  static final class Commit extends CangaCommand {
    @Parameters(index = "0", paramLabel = "NAME")
    String name;

    @Option(
        names = {"-t", "--tag"},
        paramLabel = "TAG")
    String tag;

    @Override
    int run() throws Exception {
      BaseCommand.layers(this).commit(name, tag, out());
      return 0;
    }
  }
}
