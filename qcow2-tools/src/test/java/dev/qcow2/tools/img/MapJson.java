package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Compares {@code qcow2 map --output=json} with qemu-img 7.2's, which predates qemu 8.2's {@code
 * "compressed"} field. Every other byte must match once the field is dropped from our side, and the
 * field itself is checked against what 7.2 already tells: on an image without encryption, a run of
 * data with no host offset is a run of compressed clusters (dump_map_entry's human form refuses it
 * for that reason), and 7.2 already splits runs wherever that changes (data, zero and the presence
 * of an offset all differ across the boundary).
 */
final class MapJson {
  private static final Pattern COMPRESSED = Pattern.compile(", \"compressed\": (true|false)");

  private MapJson() {}

  /** One map entry of ours: the JSON line and the value of its "compressed" field. */
  record Entry(String line, boolean compressed) {}

  /** Runs both, asserts they agree as described above, and returns our output. */
  static String assertLikeQemu(Path dir, String... args) {
    String expected = Qemu.img(dir, args);
    Cli.Result ours = Cli.run(QemuParity.prepend("qcow2", args));
    String line = String.join(" ", args);
    assertEquals("", ours.stderr(), "our stderr for " + line);
    assertEquals(0, ours.exitCode(), "our exit code for " + line);
    assertEquals(
        expected,
        COMPRESSED.matcher(ours.stdout()).replaceAll(""),
        "stdout of " + line + " without \"compressed\"");
    List<Entry> entries = entries(ours.stdout());
    List<String> qemu = lines(expected);
    for (int i = 0; i < entries.size(); i++) {
      String q = qemu.get(i);
      boolean compressedIn72 = q.contains("\"data\": true") && !q.contains("\"offset\"");
      assertEquals(compressedIn72, entries.get(i).compressed(), "entry " + i + " of " + line);
    }
    return ours.stdout();
  }

  /** Our entries; every one has the field, right after "data" as qemu 8.2 prints it. */
  static List<Entry> entries(String json) {
    return lines(json).stream()
        .map(
            l -> {
              Matcher m =
                  Pattern.compile("\"data\": (true|false), \"compressed\": (true|false)[,}]")
                      .matcher(l);
              assertEquals(true, m.find(), "\"compressed\" after \"data\" in " + l);
              return new Entry(l, Boolean.parseBoolean(m.group(2)));
            })
        .toList();
  }

  private static List<String> lines(String json) {
    assertEquals(true, json.startsWith("[") && json.endsWith("]\n"), json);
    return Arrays.asList(json.substring(1, json.length() - 2).split(",\n"));
  }
}
