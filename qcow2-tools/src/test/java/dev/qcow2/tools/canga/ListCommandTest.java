package dev.qcow2.tools.canga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.repo.RepositoryIndex;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code canga list}: colour only on a terminal and without NO_COLOR, and {@code --tags}, one line
 * per tag, over a repository built by a multi-target build (dated tags) plus added and tagged
 * images.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ListCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String ESC = "\u001b";

  @TempDir Path dir;
  Canga canga;
  String today;
  String built;
  String child;
  String plain;

  /**
   * The repository: "first" built (tags first-DATE_1 and first, then "extra" added), a child of it
   * tagged "kid", and an image with no tag.
   */
  @BeforeEach
  void setUp() throws Exception {
    canga = new Canga(dir);
    canga.config("");
    Path build = dir.resolve("build.yaml");
    Files.writeString(
        build, "first:\n  base: empty\n  size: 8M\n  description: the first target\n");
    canga.ok("build", build.toString());
    today = LocalDate.now().toString();
    canga.ok("tag", "extra", "first");
    built = RepositoryIndex.read(canga.defaultRepo().resolve("index.yaml")).tags().get("first");
    Path overlay = dir.resolve("kid.qcow2");
    canga.ok("overlay", "first", overlay.toString());
    Qemu.io(dir, overlay.toString(), "write -P 0x42 0 64k");
    child = Canga.sha(canga.ok("add", overlay.toString(), "--parent", "first", "--tag", "kid"));
    plain = Canga.sha(canga.ok("add", canga.image("p.qcow2", "1M", "write -P 7 0 4k").toString()));
  }

  @Test
  void aPipeGetsNoEscapesATerminalGetsCangallosBoldUnlessNoColorIsSet() throws Exception {
    for (List<String> args : List.of(List.of("list"), List.of("list", "--tags"))) {
      String piped = canga.ok(args.toArray(String[]::new)).stdout();
      assertFalse(piped.contains(ESC), piped);
      String[] argv = args.toArray(String[]::new);
      String coloured = canga.onTerminal(Map.of(), argv).stdout();
      assertTrue(coloured.startsWith(ESC + "[1;4mNAME "), coloured);
      assertTrue(coloured.contains(ESC + "[1m  default:extra "), coloured);
      assertEquals(piped, coloured.replaceAll(ESC + "\\[[0-9;]*m", ""));
      assertEquals(piped, canga.onTerminal(Map.of("NO_COLOR", "1"), argv).stdout());
      assertEquals(coloured, canga.onTerminal(Map.of("NO_COLOR", ""), argv).stdout());
    }
    // picocli's help follows the same decision.
    assertFalse(canga.ok("--help").stdout().contains(ESC));
    assertTrue(canga.onTerminal(Map.of(), "--help").stdout().contains(ESC));
    assertFalse(canga.onTerminal(Map.of("NO_COLOR", "1"), "--help").stdout().contains(ESC));
  }

  @Test
  void aChildJvmWritingToAFileOrAPipePrintsNoEscapes() throws Exception {
    Path log = dir.resolve("list.log");
    Process p = canga.start(log, Map.of(), "list", "--tags");
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "canga list did not finish");
    assertEquals(0, p.exitValue(), Canga.text(log));
    String text = Files.readString(log);
    assertTrue(text.contains("default:first-" + today + "_1 "), text);
    assertFalse(text.contains(ESC), text);
  }

  @Test
  void byDefaultOneLinePerImageNamedByItsLastTag() {
    List<String> names = names(canga.ok("list").stdout());
    assertEquals(
        List.of("  default:extra", "^ default:kid", "  default:" + plain.substring(0, 16)), names);
  }

  @Test
  void withTagsOneLinePerTagInTheSameColumns() {
    String byImage = canga.ok("list").stdout();
    String byTag = canga.ok("list", "-t").stdout();
    assertEquals(byTag, canga.ok("list", "--tags").stdout());
    assertEquals(
        List.of(
            "  default:first-" + today + "_1",
            "  default:first",
            "  default:extra",
            "^ default:kid",
            "  default:" + plain.substring(0, 16)),
        names(byTag));
    List<String> imageLines = byImage.lines().toList();
    List<String> tagLines = byTag.lines().toList();
    assertEquals(imageLines.get(0), tagLines.get(0), "the same header");
    // Each tag line of the built image is its default line with another name in the same columns.
    String extraLine = imageLines.get(1);
    for (int i = 1; i <= 5; i += 2) {
      String line = tagLines.get(i);
      assertEquals(extraLine.length(), line.length(), line);
      assertEquals(extraLine.substring(50), line.substring(50), line);
      assertEquals("    the first target", tagLines.get(i + 1).stripTrailing());
    }
    assertEquals(extraLine, tagLines.get(5));
    // The child and the untagged image: the lines of the default listing.
    assertEquals(imageLines.subList(3, imageLines.size()), tagLines.subList(7, tagLines.size()));
  }

  @Test
  void jsonWithTagsHasOneObjectPerTag() throws Exception {
    JsonNode byImage = JSON.readTree(canga.ok("list", "--output=json").stdout());
    assertEquals(3, byImage.size());
    assertFalse(byImage.get(0).has("tag"));
    JsonNode byTag = JSON.readTree(canga.ok("list", "--tags", "--output=json").stdout());
    assertEquals(5, byTag.size());
    List<String> tags = new ArrayList<>();
    for (JsonNode o : byTag) {
      tags.add(o.get("tag").isNull() ? null : o.get("tag").asText());
      String tag =
          o.get("tag").isNull()
              ? o.get("sha256").asText().substring(0, 16)
              : tags.get(tags.size() - 1);
      assertEquals("default:" + tag, o.get("name").asText());
    }
    assertEquals(Arrays.asList("first-" + today + "_1", "first", "extra", "kid", null), tags);
    for (int i = 0; i < 3; i++) {
      JsonNode o = byTag.get(i);
      assertEquals(built, o.get("sha256").asText());
      assertEquals("[\"first-" + today + "_1\",\"first\",\"extra\"]", o.get("tags").toString());
      assertEquals("the first target", o.get("description").asText());
    }
    assertEquals(child, byTag.get(3).get("sha256").asText());
    assertEquals(built, byTag.get(3).get("parent").asText());
    assertEquals(plain, byTag.get(4).get("sha256").asText());
    assertEquals("[]", byTag.get(4).get("tags").toString());
  }

  /** The NAME column of each image line (the lines after the header not indented by four). */
  private static List<String> names(String table) {
    List<String> names = new ArrayList<>();
    table
        .lines()
        .skip(1)
        .filter(l -> !l.startsWith("    "))
        .forEach(l -> names.add(l.substring(0, 50).stripTrailing()));
    return names;
  }
}
