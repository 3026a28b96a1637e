package dev.qcow2.tools.repo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** index.yaml: Cangallo-written fixtures, names, short names, ancestors, and round trips. */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class RepositoryIndexTest {
  private static final String BASE =
      "6ad32786ec252802d959327ab135986cfecacc4abacaa73f2c2ee4a698f189fb";
  private static final String CHILD =
      "a9a017f5906eb9efff32b6b6375c648e6c8941ed7b3d3a1beea2132d8ea1ca5e";
  private static final String RAW =
      "a9b3c0ffee000000000000000000000000000000000000000000000000000001";

  @TempDir Path dir;

  private static RepositoryIndex fixture() throws Exception {
    try (var in =
        RepositoryIndexTest.class.getResourceAsStream(
            "/dev/qcow2/tools/canga/cangallo-index.yaml")) {
      return RepositoryIndex.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
    }
  }

  @Test
  void should_read_the_index_cangallo_wrote() throws Exception {
    RepositoryIndex index = fixture();
    assertEquals(List.of(BASE, CHILD, RAW), List.copyOf(index.images().keySet()));
    ImageEntry child = index.image(CHILD);
    assertEquals(BASE, child.parent());
    assertEquals("Test derived image", child.description());
    assertEquals("Alpine test", child.os());
    assertEquals(299008, child.actualSize());
    assertEquals("2016-07-14T09:05:12.000000001Z", child.creationTime().toString());
    assertEquals(
        "1.1", index.image(BASE).node().get("format-specific").get("data").get("compat").asText());
    assertEquals("raw", index.image(RAW).format());
    assertEquals(null, index.image(RAW).creationTime());
  }

  @Test
  void should_resolve_tags_full_hashes_and_unique_prefixes() throws Exception {
    RepositoryIndex index = fixture();
    assertEquals(List.of(BASE), index.candidates("alpine"));
    assertEquals(List.of(CHILD), index.candidates(CHILD));
    assertEquals(List.of(BASE), index.candidates("6a"));
    assertEquals(List.of(CHILD, RAW), index.candidates("a9"));
    assertEquals(List.of(CHILD), index.candidates("a9a"));
    assertEquals(List.of(), index.candidates(""));
    assertEquals(List.of(), index.candidates("zz"));
    // A tag that looks like a prefix wins over the prefix (Cangallo let the prefix shadow it).
    assertEquals(List.of(RAW), index.withTag("a9", RAW).candidates("a9"));
  }

  @Test
  void should_name_an_image_by_its_last_tag_or_16_hex_digits() throws Exception {
    RepositoryIndex index = fixture();
    assertEquals("alpine-latest", index.shortName(BASE));
    assertEquals("alpine/test", index.shortName(CHILD));
    assertEquals("a9b3c0ffee000000", index.shortName(RAW));
    assertEquals(List.of("alpine", "old-alpine", "alpine-latest"), index.tagsOf(BASE));
  }

  @Test
  void should_follow_parents_and_find_children() throws Exception {
    RepositoryIndex index = fixture();
    assertEquals(List.of(CHILD, BASE), index.ancestors(CHILD));
    assertEquals(List.of(CHILD), index.children(BASE));
    RepositoryIndex broken = index.withoutImage(BASE);
    CangaException e = assertThrows(CangaException.class, () -> broken.ancestors(CHILD));
    assertEquals(
        "Image " + BASE + " (an ancestor of " + CHILD + ") is not in the index", e.getMessage());
    assertEquals(List.of(), broken.tagsOf(BASE));
  }

  @Test
  void should_write_what_it_read_and_keep_unknown_keys() throws Exception {
    RepositoryIndex index = fixture();
    RepositoryIndex again = RepositoryIndex.parse(index.toYaml());
    assertEquals(index.images(), again.images());
    assertEquals(index.tags(), again.tags());
    assertEquals(index.toYaml(), again.toYaml());
    assertTrue(index.toYaml().contains("    x-unknown-key: kept\n"));
    assertTrue(index.toYaml().endsWith("extra-top-level: 42\n"));
    assertTrue(
        index
            .toYaml()
            .startsWith("---\nversion: 0\nimages:\n  " + BASE + ":\n    virtual-size: 67108864\n"));
  }

  @Test
  void should_treat_a_missing_index_as_empty_and_refuse_a_broken_one() throws Exception {
    assertTrue(RepositoryIndex.read(dir.resolve("index.yaml")).images().isEmpty());
    assertEquals("---\nversion: 0\nimages: {}\ntags: {}\n", RepositoryIndex.empty().toYaml());
    Files.writeString(dir.resolve("index.yaml"), "- not\n- a mapping\n");
    java.io.IOException e =
        assertThrows(
            java.io.IOException.class, () -> RepositoryIndex.read(dir.resolve("index.yaml")));
    assertEquals(
        dir.resolve("index.yaml") + ": not a Cangallo index: the index is not a mapping",
        e.getMessage());
  }

  @Test
  void should_replace_the_index_atomically_with_readable_permissions() throws Exception {
    Path file = dir.resolve("index.yaml");
    IndexWriter.write(file, "one\n");
    IndexWriter.write(file, "two\n");
    assertEquals("two\n", Files.readString(file));
    assertEquals(
        "rw-r--r--",
        java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
    try (var files = Files.list(dir)) {
      assertEquals(1, files.count());
    }
  }
}
