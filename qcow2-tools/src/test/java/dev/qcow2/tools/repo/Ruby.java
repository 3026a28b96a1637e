package dev.qcow2.tools.repo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Debian's {@code ruby} (3.1, Psych 4) as the oracle of our YAML: a script run on files, never on
 * text escaped into its command line, killed past a time limit. Fails loudly when Ruby is missing:
 * {@code .ci/run} installs it.
 */
public final class Ruby {
  private static final long LIMIT_SECONDS = 60;

  private Ruby() {}

  /** Runs {@code script} with {@code args} and returns its standard output (UTF-8). */
  public static String run(Path dir, String script, String... args)
      throws IOException, InterruptedException {
    Path program = Files.writeString(Files.createTempFile(dir, "oracle", ".rb"), script);
    Path out = dir.resolve(program.getFileName() + ".out");
    Path err = dir.resolve(program.getFileName() + ".err");
    List<String> argv = new ArrayList<>(List.of(executable(), program.toString()));
    argv.addAll(List.of(args));
    Process p =
        new ProcessBuilder(argv)
            .redirectOutput(out.toFile())
            .redirectError(err.toFile())
            .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
            .start();
    if (!p.waitFor(LIMIT_SECONDS, TimeUnit.SECONDS)) {
      p.destroyForcibly().waitFor();
      throw new AssertionError("ruby ran past " + LIMIT_SECONDS + " s: " + script);
    }
    assertEquals(0, p.exitValue(), "ruby failed: " + Files.readString(err));
    return Files.readString(out, StandardCharsets.UTF_8);
  }

  /** {@code node} as the oracle scripts exchange it in JSON: each Ruby time as {"$time": text}. */
  public static JsonNode view(JsonNode node) {
    JsonNodeFactory nodes = JsonNodeFactory.instance;
    if (node instanceof RubyTime) {
      return nodes.objectNode().put("$time", node.textValue());
    } else if (node.isObject()) {
      ObjectNode o = nodes.objectNode();
      node.properties().forEach(e -> o.set(e.getKey(), view(e.getValue())));
      return o;
    } else if (node.isArray()) {
      ArrayNode a = nodes.arrayNode();
      node.forEach(x -> a.add(view(x)));
      return a;
    }
    return node;
  }

  private static String executable() {
    for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
      Path ruby = Path.of(dir.isEmpty() ? "." : dir, "ruby");
      if (Files.isExecutable(ruby)) {
        return ruby.toString();
      }
    }
    throw new AssertionError("ruby is not installed (.ci/run installs it): it checks our YAML");
  }
}
