package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.PackageGraph;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * No core source file outgrows one concern (700 lines), and the core's packages name each other in
 * one direction only, as their sources say: the parallel engines (convert, hash) share their
 * thread-pool habits through {@code internal.parallel}, not through each other.
 */
@Timeout(60)
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class PackageDependencyTest {
  private static final String CORE = "dev.qcow2";

  @TempDir Path dir;

  private static PackageGraph core() throws Exception {
    return PackageGraph.of(Path.of("src/main/java"), CORE);
  }

  @Test
  void packages_depend_on_each_other_one_way() throws Exception {
    PackageGraph g = core();
    assertEquals(List.of(), g.cycle(), g.toString());
  }

  @Test
  void convert_and_hash_do_not_use_each_other() throws Exception {
    PackageGraph g = core();
    assertFalse(g.uses(CORE + ".hash").contains(CORE + ".convert"), g.toString());
    assertFalse(g.uses(CORE + ".convert").contains(CORE + ".hash"), g.toString());
    assertEquals(Set.of(), g.uses(CORE + ".internal.parallel"), g.toString());
  }

  @Test
  void the_public_crypto_package_names_no_internal_one() throws Exception {
    // dev.qcow2.crypto is exported API (options, info, errors); the cipher machinery it describes
    // lives in internal.crypto, which depends on it and never the reverse.
    PackageGraph g = core();
    assertEquals(Set.of(), g.uses(CORE + ".crypto"), g.toString());
    assertEquals(Set.of(CORE + ".crypto"), g.uses(CORE + ".internal.crypto"), g.toString());
  }

  @Test
  void the_graph_is_the_one_the_sources_have() throws Exception {
    PackageGraph g = core();
    assertTrue(
        g.packages()
            .containsAll(
                Set.of(CORE, CORE + ".convert", CORE + ".hash", CORE + ".internal.parallel")),
        g.toString());
    assertTrue(
        g.uses(CORE + ".hash").containsAll(Set.of(CORE, CORE + ".internal.parallel")),
        g.toString());
  }

  @Test
  void no_source_file_is_over_700_lines() throws Exception {
    // One concern a file: a class that outgrows this is split, as the core's cleanup did.
    List<String> over;
    try (var files = Files.walk(Path.of("src/main/java"))) {
      over =
          files
              .filter(f -> f.toString().endsWith(".java"))
              .filter(f -> lines(f) > 700)
              .map(f -> f + ": " + lines(f))
              .toList();
    }
    assertEquals(List.of(), over);
  }

  private static long lines(Path file) {
    try (var l = Files.lines(file)) {
      return l.count();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @Test
  void a_cycle_through_imports_wildcards_and_qualified_names_is_found() throws Exception {
    write("a/A.java", "package x.a;\nimport x.b.B;\nclass A { B b; }\n");
    write("b/B.java", "package x.b;\nimport x.c.*;\nclass B {}\n");
    write("c/C.java", "package x.c;\nclass C { Object o = new x.a.A(); }\n");
    write("d/D.java", "package x.d;\nimport java.util.List;\nclass D { x.a.A a; }\n");
    PackageGraph g = PackageGraph.of(dir, "x");
    assertEquals(Set.of("x.b"), g.uses("x.a"));
    assertEquals(Set.of("x.c"), g.uses("x.b"));
    assertEquals(Set.of("x.a"), g.uses("x.c"));
    assertEquals(Set.of("x.a"), g.uses("x.d"));
    List<String> cycle = g.cycle();
    assertEquals(4, cycle.size(), cycle.toString());
    assertEquals(cycle.get(0), cycle.get(3));
    assertTrue(cycle.containsAll(Set.of("x.a", "x.b", "x.c")), cycle.toString());
    Files.delete(dir.resolve("c/C.java"));
    assertEquals(List.of(), PackageGraph.of(dir, "x").cycle());
  }

  private void write(String name, String text) throws Exception {
    Path p = dir.resolve(name);
    Files.createDirectories(p.getParent());
    Files.writeString(p, text);
  }
}
