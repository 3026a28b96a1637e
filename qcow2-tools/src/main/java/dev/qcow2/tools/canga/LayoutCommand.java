package dev.qcow2.tools.canga;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.tools.cli.JsonOutput;
import dev.qcow2.tools.repo.Layers;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code canga layout}: the tree of bases and the layers on them, as imgbased's layout. */
@Command(name = "layout", description = "draw the tree of bases and their layers")
final class LayoutCommand extends CangaCommand {
  @Option(names = "--output", paramLabel = "human|json", defaultValue = "human")
  String output;

  @Override
  int run() throws Exception {
    Layers layers = BaseCommand.layers(this);
    List<Layers.Layer> all = layers.layers();
    ArrayNode json = JsonNodeFactory.instance.arrayNode();
    StringBuilder sb = new StringBuilder();
    for (Layers.Base b : layers.bases()) {
      ObjectNode o = json.addObject();
      o.put("name", b.name());
      o.put("sha256", b.sha256());
      ArrayNode children = o.putArray("layers");
      sb.append(b.name()).append(" (").append(b.sha256(), 0, 12).append(")\n");
      draw(sb, all, b.name(), null, "", children);
    }
    out().print(output.equals("json") ? JsonOutput.pretty(json) + "\n" : sb.toString());
    return 0;
  }

  /** The layers of {@code base} whose parent is {@code parent}, each followed by its own. */
  private static void draw(
      StringBuilder sb,
      List<Layers.Layer> all,
      String base,
      String parent,
      String indent,
      ArrayNode json) {
    List<Layers.Layer> kids = new ArrayList<>();
    for (Layers.Layer l : all) {
      if (base.equals(l.base()) && java.util.Objects.equals(parent, l.parent())) {
        kids.add(l);
      }
    }
    for (int i = 0; i < kids.size(); i++) {
      boolean last = i == kids.size() - 1;
      Layers.Layer l = kids.get(i);
      sb.append(indent).append(last ? "└── " : "├── ").append(l.name()).append('\n');
      ObjectNode o = json.addObject();
      o.put("name", l.name());
      draw(sb, all, base, l.name(), indent + (last ? "    " : "│   "), o.putArray("layers"));
    }
  }
}
