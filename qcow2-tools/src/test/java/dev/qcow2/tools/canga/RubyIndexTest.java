package dev.qcow2.tools.canga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.repo.PsychYaml;
import dev.qcow2.tools.repo.Ruby;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code index.yaml} and {@code show} output of a repository built here, as Cangallo reads and
 * writes them: Ruby 3.1 loads the index as Cangallo does ({@code YAML.load_file(f,
 * permitted_classes: [Time])}) and finds what we wrote, times as {@code Time}; its {@code to_yaml}
 * of what it loaded is our file byte for byte, and of an entry is our {@code show}.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class RubyIndexTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static final String CANGALLO =
      """
      require "json"
      require "yaml"
      index, view, again, entry, sha = ARGV
      data = YAML.load_file(index, permitted_classes: [Time])
      def view(v)
        case v
        when Hash then v.transform_values { |x| view(x) }
        when Array then v.map { |x| view(x) }
        when Time then { "$time" => v.strftime("%Y-%m-%d %H:%M:%S.%N %:z") }
        else v
        end
      end
      File.write(view, JSON.generate(view(data)))
      File.write(again, data.to_yaml)
      File.write(entry, data["images"][sha].merge("repo" => "default").to_yaml)
      """;

  @TempDir Path dir;

  @Test
  void rubyLoadsOurIndexAsCangalloDoesAndWritesItBackTheSame() throws Exception {
    Canga canga = new Canga(dir);
    canga.config("");
    Path build = dir.resolve("build.yaml");
    Files.writeString(
        build,
        """
        first:
          base: empty
          size: 8M
          description: |
            The first target: built by canga, # not a comment
            second line, ünïcode — and a long line that goes on past the eightieth column of the index
        """);
    canga.ok("build", build.toString());
    String today = LocalDate.now().toString();
    for (String tag : new String[] {today, "yes", "0777", "[x]", "a #b"}) {
      canga.ok("tag", tag, "first");
    }
    Path overlay = dir.resolve("kid.qcow2");
    canga.ok("overlay", "first", overlay.toString());
    Qemu.io(dir, overlay.toString(), "write -P 0x42 0 64k");
    String kid =
        Canga.sha(canga.ok("add", overlay.toString(), "--parent", "first", "--tag", "kid"));
    canga.ok("add", canga.image("p.qcow2", "1M", "write -P 7 0 4k").toString());

    Path index = canga.defaultRepo().resolve("index.yaml");
    String ours = Files.readString(index);
    Path view = dir.resolve("view.json");
    Path again = dir.resolve("again.yaml");
    Path entry = dir.resolve("entry.yaml");
    Ruby.run(
        dir, CANGALLO, index.toString(), view.toString(), again.toString(), entry.toString(), kid);

    JsonNode loaded = JSON.readTree(view.toFile());
    JsonNode written = Ruby.view(PsychYaml.parse(ours));
    assertEquals(0, written.equals(NUMBERS_BY_VALUE, loaded) ? 0 : 1, loaded + "\n" + written);
    JsonNode images = loaded.get("images");
    assertEquals(3, images.size(), loaded.toString());
    String first = loaded.get("tags").get("first").asText();
    assertEquals(first, loaded.get("tags").get("first-" + today + "_1").asText());
    for (String tag : new String[] {today, "yes", "0777", "[x]", "a #b"}) {
      assertEquals(first, loaded.get("tags").get(tag).asText(), "tag " + tag + " read back");
    }
    assertEquals(first, images.get(kid).get("parent").asText());
    assertTrue(images.get(first).get("description").asText().contains("\u00fcn\u00efcode"));
    images.forEach(
        e ->
            assertNotNull(
                e.get("creation-time").get("$time"), "a Time: " + e.get("creation-time")));
    assertEquals(ours, Files.readString(again), "Ruby's to_yaml of our index");
    assertEquals(Files.readString(entry), canga.ok("show", kid.substring(0, 12)).stdout());
  }

  /** Equal numbers whatever their width (Ruby's JSON and our YAML pick int or long apart). */
  private static final Comparator<JsonNode> NUMBERS_BY_VALUE =
      (a, b) -> {
        if (a.isNumber() && b.isNumber()) {
          return a.decimalValue().compareTo(b.decimalValue());
        }
        return a.equals(b) ? 0 : 1;
      };
}
