package dev.qcow2.tools.canga;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.tools.cli.Colour;
import dev.qcow2.tools.repo.ImageEntry;
import dev.qcow2.tools.repo.Repository;
import dev.qcow2.tools.repo.RepositoryIndex;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

/**
 * {@code canga list [REPO]}: Cangallo's table, byte for byte: a bold underlined header, one bold
 * line per image ({@code ^} when it has a parent, {@code *} when its file is not here, {@code
 * repo:short}, the stored size in "Mb" and the age in days, both as Ruby prints {@code
 * Float#round(1)}), and the description on the next line. Bold and underline only on a terminal
 * (Cangallo prints them into pipes too). {@code --tags} lists an image once per tag, named by that
 * tag, in the same columns (an image without tags once, as by default); {@code --output=json} gives
 * the same facts as a JSON array, one object per line of the table (with {@code --tags}, each with
 * its {@code tag}).
 */
@Command(name = "list", description = "list images")
final class ListCommand extends CangaCommand {
  private static final String FORMAT = "%-50.50s %11.11s %8.8s";

  @Parameters(paramLabel = "REPO", arity = "0..1")
  String repo;

  @Option(
      names = "--output",
      paramLabel = "FMT",
      defaultValue = "human",
      description = "human (default) or json")
  String output;

  @Option(
      names = {"-t", "--tags"},
      description = "one line per tag (an image without tags once, by its hash)")
  boolean tags;

  /** One listed line: an image, under {@code tag} or (null) under its short name. */
  record Row(String repo, RepositoryIndex index, ImageEntry entry, boolean available, String tag) {
    String name() {
      return repo + ":" + (tag != null ? tag : index.shortName(entry.sha256()));
    }
  }

  @Override
  int run() throws Exception {
    if (!output.equals("human") && !output.equals("json")) {
      throw new ParameterException(spec.commandLine(), "--output must be human or json");
    }
    List<String> names = repo != null ? List.of(repo) : repos().config().names();
    List<Row> rows = new ArrayList<>();
    for (String n : names) {
      Repository r = repos().repo(n);
      RepositoryIndex index = r.index();
      for (ImageEntry e : index.images().values()) {
        boolean available = Files.exists(r.imagePath(e.sha256()));
        List<String> tagged = tags ? index.tagsOf(e.sha256()) : List.of();
        if (tagged.isEmpty()) {
          rows.add(new Row(n, index, e, available, null));
        }
        for (String t : tagged) {
          rows.add(new Row(n, index, e, available, t));
        }
      }
    }
    Instant now = Instant.now();
    out().print(output.equals("json") ? json(rows, now, tags) : table(rows, now, colour()));
    return 0;
  }

  static String table(List<Row> rows, Instant now, Colour colour) {
    StringBuilder sb = new StringBuilder();
    sb.append(colour.style("1;4", String.format(FORMAT, "NAME", "SIZE", "DAYS_AGO"))).append('\n');
    for (Row row : rows) {
      ImageEntry e = row.entry();
      String name = (e.parent() != null ? "^" : " ") + (row.available() ? " " : "*") + row.name();
      String size = rubyRound1(e.actualSize() / (1024.0 * 1024.0)) + " Mb";
      OffsetDateTime created = e.creationTime();
      String days = created == null ? "N/A" : rubyRound1(days(created, now));
      sb.append(colour.style("1", String.format(FORMAT, name, size, days))).append('\n');
      if (e.description() != null) {
        sb.append(String.format("    %-70.70s", e.description())).append('\n');
      }
    }
    return sb.toString();
  }

  private static double days(OffsetDateTime created, Instant now) {
    Duration d = Duration.between(created.toInstant(), now);
    return (d.getSeconds() + d.getNano() / 1e9) / 86400.0;
  }

  /**
   * Ruby's {@code Float#round(1).to_s}: round half away from zero on x * 10, then "%.1f"-like text.
   */
  static String rubyRound1(double x) {
    double s = 10.0;
    double xs = x * s;
    double f = cRound(xs);
    if (x > 0 && (f + 0.5) / s <= x) {
      f += 1;
    } else if (x < 0 && (f - 0.5) / s >= x) {
      f -= 1;
    }
    double r = f / s;
    if (r == 0 && (x < 0 || 1 / x < 0)) {
      return "-0.0";
    }
    return rubyFloat(r);
  }

  private static double cRound(double v) {
    double a = Math.abs(v);
    double t = Math.floor(a);
    if (a - t >= 0.5) {
      t += 1;
    }
    return Math.copySign(t, v);
  }

  private static String rubyFloat(double d) {
    if (Math.abs(d) >= 1e16) {
      return Double.toString(d);
    }
    String plain = new BigDecimal(Double.toString(d)).toPlainString();
    return plain.contains(".") ? plain : plain + ".0";
  }

  private static String json(List<Row> rows, Instant now, boolean perTag) throws Exception {
    ArrayNode list = JsonNodeFactory.instance.arrayNode();
    for (Row row : rows) {
      ImageEntry e = row.entry();
      ObjectNode o = list.addObject();
      o.put("repo", row.repo());
      o.put("name", row.name());
      if (perTag) {
        o.put("tag", row.tag());
      }
      o.put("sha256", e.sha256());
      ArrayNode tags = o.putArray("tags");
      row.index().tagsOf(e.sha256()).forEach(tags::add);
      o.put("parent", e.parent());
      o.put("available", row.available());
      o.put("actual-size", e.actualSize());
      o.put("virtual-size", e.virtualSize());
      OffsetDateTime created = e.creationTime();
      o.put("creation-time", created == null ? null : created.toString());
      if (created == null) {
        o.putNull("days-ago");
      } else {
        o.put("days-ago", Double.parseDouble(rubyRound1(days(created, now))));
      }
      o.put("description", e.description());
      o.put("os", e.os());
    }
    return new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(list)
        + "\n";
  }
}
