package dev.qcow2.tools.repo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** YAML as Ruby's Psych writes it, and Ruby timestamps. */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class PsychYamlTest {
  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      quoteCharacter = '`',
      value = {
        "plain text|plain text",
        "1.1|'1.1'",
        "16|'16'",
        "0x1F|'0x1F'",
        "1e10|1e10",
        "true|'true'",
        "no|'no'",
        "~|\"~\"",
        "null|'null'",
        "''|''",
        "y|\"y\"",
        "a: b|'a: b'",
        "-x|\"-x\"",
        "-say \"hi\"|-say \"hi\"",
        "it's|it's",
        "/ctx/sub|\"/ctx/sub\"",
        "6ad32786ec252802d959327ab135986cfecacc4abacaa73f2c2ee4a698f189fb|6ad32786ec252802d959327ab135986cfecacc4abacaa73f2c2ee4a698f189fb",
        "202497586970d0ec7f3efca081c14cd0d20dbc042ccf1005a0e4fd47760b0fdc|202497586970d0ec7f3efca081c14cd0d20dbc042ccf1005a0e4fd47760b0fdc",
        "2016-05-10 16:30:31.551512000 +02:00|'2016-05-10 16:30:31.551512000 +02:00'",
      })
  void should_quote_only_what_ruby_would_read_as_something_else(String text, String written) {
    String s = text.equals("''") ? "" : text;
    assertEquals(written, PsychYaml.scalar(s));
  }

  @Test
  void should_write_nested_structures_as_psych_and_read_them_back() throws Exception {
    String yaml =
        """
        ---
        version: 0
        images:
          abc:
            parent:
            description: |-
              two
              lines
            list:
            - a
            - k: v
              k2: "tab\\there"
            - - x
              - "y"
            empty: {}
            none: []
            ratio: 1.5
            big: 12345678901
            flag: false
        tags: {}
        """;
    JsonNode node = PsychYaml.parse(yaml);
    assertEquals(yaml, PsychYaml.emit(node));
    assertEquals("two\nlines", node.get("images").get("abc").get("description").asText());
    assertEquals(node, PsychYaml.parse(PsychYaml.emit(node)));
  }

  @Test
  void should_keep_plain_timestamps_plain_and_read_what_psych_reads_as_text_as_text()
      throws Exception {
    String yaml =
        "---\nt: 2016-05-10 16:30:31.551512000 +02:00\n"
            + "s: '2016-05-10 16:30:31.551512000 +02:00'\nd: 2016-05-10\ne: 1e10\no: 0o17\ni: 17\n";
    JsonNode node = PsychYaml.parse(yaml);
    assertEquals("1e10", node.get("e").textValue());
    assertEquals("0o17", node.get("o").textValue());
    assertEquals(17, node.get("i").intValue());
    assertEquals(yaml, PsychYaml.emit(node));
  }

  @Test
  void should_read_and_write_ruby_timestamps() {
    OffsetDateTime t = ImageEntry.parseTimestamp("2016-05-10 16:30:31.551512000 +02:00");
    assertEquals(OffsetDateTime.of(2016, 5, 10, 16, 30, 31, 551_512_000, ZoneOffset.ofHours(2)), t);
    assertEquals("2016-05-10 16:30:31.551512000 +02:00", ImageEntry.formatTimestamp(t));
    assertEquals(
        OffsetDateTime.of(2016, 7, 14, 9, 5, 12, 1, ZoneOffset.UTC),
        ImageEntry.parseTimestamp("2016-07-14 09:05:12.000000001 Z"));
    assertEquals(
        OffsetDateTime.of(2001, 12, 14, 21, 59, 43, 100_000_000, ZoneOffset.ofHours(-5)),
        ImageEntry.parseTimestamp("2001-12-14t21:59:43.10-05:00"));
    assertEquals(
        OffsetDateTime.of(2002, 12, 14, 0, 0, 0, 0, ZoneOffset.UTC),
        ImageEntry.parseTimestamp("2002-12-14"));
    assertEquals(
        OffsetDateTime.of(2001, 12, 15, 2, 59, 43, 0, ZoneOffset.ofHours(-5)),
        ImageEntry.parseTimestamp("2001-12-15 2:59:43 -5"));
    assertNull(ImageEntry.parseTimestamp("yesterday"));
  }

  @Test
  void should_print_floats_as_ruby() {
    assertEquals("1.5", PsychYaml.rubyFloat(1.5));
    assertEquals("76.0", PsychYaml.rubyFloat(76));
    assertEquals("12345678.9", PsychYaml.rubyFloat(12345678.9));
    assertEquals("1.0e+16", PsychYaml.rubyFloat(1e16));
  }
}
