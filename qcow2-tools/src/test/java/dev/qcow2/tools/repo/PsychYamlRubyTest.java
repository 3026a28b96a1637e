package dev.qcow2.tools.repo;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link PsychYaml#emit} against Ruby's own {@code to_yaml} on the same data, byte for byte, over
 * seeded random documents (strings that need quotes, fold past column 80 or span lines, unicode,
 * numbers, booleans and dates as strings, Ruby times, nested and empty containers). The seed is in
 * every failure message; {@code -Dpsych.seed=N} replays one.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PsychYamlRubyTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
  private static final int DOCUMENTS = 400;

  /** Ruby's side: the documents of a JSON array, {"$time": text} as Psych's Time, each to_yaml. */
  private static final String TO_YAML =
      """
      require "json"
      require "yaml"
      SCANNER = Psych::ScalarScanner.new(Psych::ClassLoader.new)
      def ruby(v)
        case v
        when Hash
          v.size == 1 && v.key?("$time") ? SCANNER.tokenize(v["$time"]) : v.transform_values { |x| ruby(x) }
        when Array then v.map { |x| ruby(x) }
        else v
        end
      end
      JSON.parse(File.read(ARGV[0], encoding: "UTF-8")).each do |d|
        $stdout.write(ruby(d).to_yaml)
        $stdout.write("\\0")
      end
      """;

  /** Text that Psych and libyaml treat each in their own way. */
  private static final List<String> TRICKY =
      List.of(
          "",
          " ",
          "  ",
          "plain",
          "two words",
          "16",
          "-2",
          "+1",
          "1.5",
          ".5",
          "1e10",
          "0x1F",
          "0o17",
          "0b101",
          "1_000",
          "1,000",
          "09",
          "1:20",
          "1:20.5",
          "true",
          "false",
          "yes",
          "No",
          "on",
          "OFF",
          "y",
          "n",
          "Y",
          "N",
          "~",
          "null",
          "NULL",
          "Null",
          ".inf",
          "-.inf",
          ".NaN",
          "2026-12-03",
          "2026-13-01",
          "2026-02-30",
          "2026-12-03 10:00:00",
          "2026-12-03T10:00:00Z",
          "2016-05-10 16:30:31.551512000 +02:00",
          ":sym",
          "-",
          "- x",
          "-x",
          "?",
          "? x",
          ":",
          "a:",
          "a: b",
          "a #b",
          "a#b",
          "#c",
          "[x]",
          "{x}",
          "x,y",
          "&a",
          "*a",
          "!t",
          "|",
          ">",
          "'q'",
          "\"q\"",
          "it's",
          "say \"hi\"",
          "%p",
          "@a",
          "`b",
          "<<",
          "---",
          "...",
          "--- x",
          "=",
          "back\\slash",
          "/ctx/sub",
          "tab\there",
          "cr\rlf",
          "nul\0",
          "bell\u0007",
          "esc\u001b",
          "del\u007f",
          "é",
          "日本語",
          "nbsp\u00a0x",
          "nel\u0085x",
          "ls\u2028x",
          "bom\ufeffx",
          "emoji \ud83d\ude00",
          "a\nb",
          "a\nb\n",
          "a\n\n",
          "\n",
          "\nx",
          " a\nb",
          "a \nb",
          "a\n b",
          "a\n\nb\n\n",
          "x\n",
          "trailing ",
          " leading",
          "a  b",
          "-1\n2");

  @TempDir Path dir;

  @Test
  void emitIsWhatRubyWritesForTheSameData() throws Exception {
    long seed = Long.getLong("psych.seed", System.nanoTime());
    Random random = new Random(seed);
    ArrayNode forRuby = NODES.arrayNode();
    List<JsonNode> docs = new java.util.ArrayList<>();
    for (int i = 0; i < DOCUMENTS; i++) {
      ObjectNode doc = NODES.objectNode();
      int entries = 1 + random.nextInt(6);
      for (int k = 0; k < entries; k++) {
        doc.set(key(random), value(random, 0));
      }
      docs.add(doc);
      forRuby.add(Ruby.view(doc));
    }
    Path input = dir.resolve("docs.json");
    Files.writeString(input, JSON.writeValueAsString(forRuby));
    String[] expected = Ruby.run(dir, TO_YAML, input.toString()).split("\0", -1);
    assertEquals(DOCUMENTS + 1, expected.length, "seed " + seed);
    for (int i = 0; i < DOCUMENTS; i++) {
      JsonNode doc = docs.get(i);
      String ours = PsychYaml.emit(doc);
      assertEquals(expected[i], ours, "seed " + seed + ", document " + i + ": " + forRuby.get(i));
      assertEquals(doc, PsychYaml.parse(ours), "seed " + seed + ", read back: " + ours);
    }
  }

  private static String key(Random random) {
    if (random.nextInt(3) == 0) {
      return "k" + random.nextInt(1000);
    }
    String k = string(random);
    // libyaml writes a key over 128 bytes or over several lines as a complex key ("? "), which
    // Cangallo's keys (hashes, tags, field names) never are.
    return k.contains("\n")
            || k.contains("\r")
            || k.contains("\u0085")
            || k.contains("\u2028")
            || k.length() > 40
        ? "k" + k.hashCode()
        : k;
  }

  private static JsonNode value(Random random, int depth) {
    int pick = random.nextInt(depth < 3 ? 20 : 14);
    switch (pick) {
      case 0:
        return NODES.nullNode();
      case 1:
        return NODES.booleanNode(random.nextBoolean());
      case 2:
        // Jackson reads back an int where the value fits one.
        return random.nextInt(3) == 0
            ? NODES.numberNode(random.nextLong())
            : NODES.numberNode(random.nextInt(100));
      case 3:
        return NODES.numberNode(random.nextInt(100000) / (random.nextBoolean() ? 100.0 : 4.0));
      case 4:
        return PsychYaml.time(time(random));
      case 5:
        return random.nextBoolean() ? NODES.objectNode() : NODES.arrayNode();
      case 14, 15, 16:
        ObjectNode map = NODES.objectNode();
        int n = 1 + random.nextInt(4);
        for (int i = 0; i < n; i++) {
          map.set(key(random), value(random, depth + 1));
        }
        return map;
      case 17, 18, 19:
        ArrayNode list = NODES.arrayNode();
        int m = 1 + random.nextInt(4);
        for (int i = 0; i < m; i++) {
          list.add(value(random, depth + 1));
        }
        return list;
      default:
        return NODES.textNode(string(random));
    }
  }

  /** A tricky string, a word, a long sentence, or a few of them run together. */
  private static String string(Random random) {
    switch (random.nextInt(4)) {
      case 0:
        return TRICKY.get(random.nextInt(TRICKY.size()));
      case 1:
        StringBuilder sentence = new StringBuilder();
        int words = 1 + random.nextInt(40);
        for (int i = 0; i < words; i++) {
          if (i > 0) {
            sentence.append(random.nextInt(8) == 0 ? "  " : " ");
          }
          String word = "wordy".repeat(2);
          sentence.append(word, 0, 1 + random.nextInt(word.length()));
          if (random.nextInt(10) == 0) {
            sentence.append(TRICKY.get(random.nextInt(TRICKY.size())));
          }
        }
        return sentence.toString();
      default:
        StringBuilder mix = new StringBuilder();
        int parts = 1 + random.nextInt(4);
        for (int i = 0; i < parts; i++) {
          mix.append(TRICKY.get(random.nextInt(TRICKY.size())));
        }
        return mix.toString();
    }
  }

  private static OffsetDateTime time(Random random) {
    Instant at =
        Instant.ofEpochSecond(random.nextInt(2_000_000_000), random.nextInt(1_000_000_000));
    // Psych reads "-00:45" as +00:45 (Integer("-00") is 0): offsets in (-1 h, 0) are left out.
    int quarters = random.nextInt(4 * 24) - 4 * 12;
    if (quarters < 0 && quarters > -4) {
      quarters = -quarters;
    }
    return at.atOffset(ZoneOffset.ofTotalSeconds(quarters * 15 * 60));
  }
}
