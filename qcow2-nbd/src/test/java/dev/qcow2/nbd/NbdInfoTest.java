package dev.qcow2.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** What nbdinfo (libnbd) learns from the server: the export list, the flags, and the map. */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class NbdInfoTest {
  @TempDir Path dir;

  @Test
  void lists_the_export_with_its_name_description_and_size() throws Exception {
    Path image = Samples.qcow2(dir, "a.qcow2", null);
    try (Served s =
        Served.readOnly(
            image, ServerOptions.builder().exportName("disk").description("a test disk"))) {
      String list = Tools.run(dir, "nbdinfo", "--list", s.uri());
      assertTrue(list.contains("export=\"disk\":"), list);
      assertTrue(list.contains("description: a test disk"), list);
      assertTrue(list.contains("export-size: " + Samples.SIZE), list);
      String json = Tools.run(dir, "nbdinfo", "--json", s.uri("disk"));
      assertTrue(json.contains("\"export-size\": " + Samples.SIZE), json);
      assertTrue(json.contains("\"block_size_maximum\": " + (32 << 20)), json);
    }
  }

  @Test
  void says_what_a_read_only_export_can_do() throws Exception {
    Path image = Samples.qcow2(dir, "a.qcow2", null);
    try (Served s = Served.readOnly(image, ServerOptions.builder())) {
      assertCan(s, "read", true);
      assertCan(s, "write", false);
      assertCan(s, "flush", false);
      assertCan(s, "trim", false);
      assertCan(s, "zero", false);
      assertCan(s, "df", true);
      assertCan(s, "cache", true);
      assertCan(s, "structured-reply", true);
      assertCan(s, "multi-conn", false);
    }
  }

  @Test
  void says_what_a_writable_shared_export_can_do() throws Exception {
    Path image = Samples.qcow2(dir, "a.qcow2", null);
    try (Served s =
        Served.writable(image, ServerOptions.builder().maxConnections(4).discard(true))) {
      for (String can :
          new String[] {"write", "flush", "fua", "trim", "zero", "fast-zero", "multi-conn"}) {
        assertCan(s, can, true);
      }
    }
    try (Served s = Served.writable(image, ServerOptions.builder())) {
      assertCan(s, "trim", false); // --discard=ignore, qemu-nbd's default
      assertCan(s, "multi-conn", false);
    }
  }

  private void assertCan(Served s, String what, boolean expected) {
    Tools.Result r = Tools.exec(dir, List.of("nbdinfo", "--can", what, s.uri()));
    assertEquals(expected ? 0 : 2, r.exitCode(), what + ": " + r.stdout() + r.stderr());
  }

  @Test
  void maps_like_qemu_img_map_for_plain_compressed_and_chained_images() throws Exception {
    Path plain = Samples.qcow2(dir, "plain.qcow2", null);
    Path zstd = Samples.qcow2(dir, "zstd.qcow2", "zstd");
    Path top = Samples.overlay(dir, plain, "top.qcow2");
    for (Path image : new Path[] {plain, zstd, top}) {
      try (Served s = Served.readOnly(image, ServerOptions.builder())) {
        List<String> nbd = nbdinfoMap(Tools.run(dir, "nbdinfo", "--map", s.uri()));
        assertEquals(qemuMap(image), nbd, image.toString());
        assertTrue(nbd.size() > 2, nbd.toString());
      }
    }
  }

  @Test
  void maps_allocation_depth_through_the_backing_chain() throws Exception {
    Path base = Samples.qcow2(dir, "base.qcow2", null);
    Path top = Samples.overlay(dir, base, "top.qcow2");
    try (Served s = Served.readOnly(top, ServerOptions.builder().allocationDepth(true))) {
      String map = Tools.run(dir, "nbdinfo", "--map=qemu:allocation-depth", s.uri());
      // qemu-img map --output=json gives the depth of each run; the context says depth + 1, 0 when
      // absent.
      assertEquals(qemuDepths(top), nbdinfoMap(map), map);
      String contexts = Tools.run(dir, "nbdinfo", "--list", "--content", s.uri());
      assertTrue(contexts.contains("qemu:allocation-depth"), contexts);
    }
    try (Served s = Served.readOnly(top, ServerOptions.builder())) {
      Tools.Result r = Tools.exec(dir, List.of("nbdinfo", "--map=qemu:allocation-depth", s.uri()));
      assertTrue(
          r.exitCode() != 0, "the context is offered only with --allocation-depth: " + r.stdout());
    }
  }

  /**
   * nbdinfo --map lines "offset length type description" as "offset length type", neighbours
   * merged.
   */
  static List<String> nbdinfoMap(String text) {
    List<long[]> runs = new ArrayList<>();
    for (String line : text.strip().split("\n")) {
      String[] f = line.strip().split("\\s+");
      runs.add(new long[] {Long.parseLong(f[0]), Long.parseLong(f[1]), Long.parseLong(f[2])});
    }
    return merged(runs);
  }

  /**
   * qemu-img map --output=json as base:allocation runs: HOLE (1) without data, ZERO (2) for zeros.
   */
  private List<String> qemuMap(Path image) {
    List<long[]> runs = new ArrayList<>();
    for (String[] e : qemuEntries(image)) {
      boolean data = e[3].equals("true");
      boolean zero = e[4].equals("true");
      runs.add(
          new long[] {Long.parseLong(e[0]), Long.parseLong(e[1]), (data ? 0 : 1) | (zero ? 2 : 0)});
    }
    return merged(runs);
  }

  private List<String> qemuDepths(Path image) {
    List<long[]> runs = new ArrayList<>();
    for (String[] e : qemuEntries(image)) {
      boolean present = e[5].equals("true");
      runs.add(
          new long[] {
            Long.parseLong(e[0]), Long.parseLong(e[1]), present ? Long.parseLong(e[2]) + 1 : 0
          });
    }
    return merged(runs);
  }

  /** start, length, depth, data, zero, present of each entry of qemu-img map --output=json. */
  private List<String[]> qemuEntries(Path image) {
    String json = Tools.run(dir, "qemu-img", "map", "--output=json", image.toString());
    List<String[]> entries = new ArrayList<>();
    for (String line : json.split("\n")) {
      if (!line.contains("\"start\"")) {
        continue;
      }
      entries.add(
          new String[] {
            field(line, "start"),
            field(line, "length"),
            field(line, "depth"),
            field(line, "data"),
            field(line, "zero"),
            field(line, "present")
          });
    }
    return entries;
  }

  private static String field(String line, String name) {
    int at = line.indexOf("\"" + name + "\": ") + name.length() + 4;
    int end = at;
    while (end < line.length() && line.charAt(end) != ',' && line.charAt(end) != '}') {
      end++;
    }
    return line.substring(at, end).strip();
  }

  private static List<String> merged(List<long[]> runs) {
    List<long[]> out = new ArrayList<>();
    for (long[] r : runs) {
      long[] last = out.isEmpty() ? null : out.get(out.size() - 1);
      if (last != null && last[2] == r[2] && last[0] + last[1] == r[0]) {
        last[1] += r[1];
      } else {
        out.add(r.clone());
      }
    }
    List<String> text = new ArrayList<>();
    out.forEach(r -> text.add(r[0] + " " + r[1] + " " + r[2]));
    return text;
  }
}
