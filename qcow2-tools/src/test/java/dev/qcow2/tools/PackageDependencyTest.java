package dev.qcow2.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.PackageGraph;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The tools' packages name each other in one direction, as their sources say: the launchers ({@code
 * Main}) use the command sets, the command sets use the shared helpers of {@code cli}, and nothing
 * points back up.
 */
@Timeout(60)
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class PackageDependencyTest {
  private static final String TOOLS = "dev.qcow2.tools";

  private static PackageGraph tools() throws Exception {
    return PackageGraph.of(Path.of("src/main/java"), TOOLS);
  }

  @Test
  void packages_depend_on_each_other_one_way() throws Exception {
    PackageGraph g = tools();
    assertEquals(List.of(), g.cycle(), g.toString());
  }

  @Test
  void only_the_launchers_use_the_top_package() throws Exception {
    PackageGraph g = tools();
    for (String pkg : g.packages()) {
      assertFalse(g.uses(pkg).contains(TOOLS), pkg + " uses " + TOOLS + ":\n" + g);
    }
  }

  @Test
  void the_shared_helpers_use_no_command() throws Exception {
    PackageGraph g = tools();
    assertEquals(Set.of(), g.uses(TOOLS + ".cli"), g.toString());
  }

  @Test
  void the_graph_is_the_one_the_sources_have() throws Exception {
    PackageGraph g = tools();
    assertTrue(g.uses(TOOLS).containsAll(Set.of(TOOLS + ".img", TOOLS + ".canga")), g.toString());
    assertTrue(g.uses(TOOLS + ".img").contains(TOOLS + ".cli"), g.toString());
    assertTrue(g.uses(TOOLS + ".canga").contains(TOOLS + ".cli"), g.toString());
  }
}
