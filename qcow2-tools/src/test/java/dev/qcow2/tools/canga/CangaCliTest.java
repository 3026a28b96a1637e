package dev.qcow2.tools.canga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Which verbs the canga command line is built with: the one named, or all of them. */
class CangaCliTest {
  @Test
  void theVerbIsTheFirstWordThatIsNotCangasOwnOption() {
    assertEquals("list", CangaCli.verbOf(List.of("--config", "c.yaml", "list", "-x")));
    assertEquals("list", CangaCli.verbOf(List.of("--config=c.yaml", "list")));
    assertNull(CangaCli.verbOf(List.of("--config", "list")));
    assertNull(CangaCli.verbOf(List.of("--", "list")));
    assertNull(CangaCli.verbOf(List.of("--help")));
    assertNull(CangaCli.verbOf(List.of("-h", "list")), "help before a verb lists every verb");
    assertNull(CangaCli.verbOf(List.of("-hV", "list")));
    assertNull(CangaCli.verbOf(List.of("--help", "layer")));
    assertEquals("list", CangaCli.verbOf(List.of("list", "--help")));
  }

  @Test
  void aVerbIsNamedByItsNameAnAliasOrAPrefixOfOneVerbAlone() {
    assertEquals(ListCommand.class, CangaCli.verbClass("list"));
    assertEquals(ListCommand.class, CangaCli.verbClass("li"));
    assertEquals(DelCommand.class, CangaCli.verbClass("rm"));
    assertEquals(DeltagCommand.class, CangaCli.verbClass("rmt"));
    assertEquals(CheckSystemCommand.class, CangaCli.verbClass("check-system"));
    assertEquals(StoreCommands.Instance.class, CangaCli.verbClass("instance"));
    assertNull(CangaCli.verbClass("de"), "del, deltag and deploy");
    assertNull(CangaCli.verbClass("l"), "layer, layout, list, layers");
    assertNull(CangaCli.verbClass("frob"));
    assertNull(CangaCli.verbClass(""));
  }

  @Test
  void onlyTheNamedVerbIsBuiltAndAllOfThemOtherwise() {
    Map<String, CommandLine> one = CangaCli.commandLine(Map.of(), List.of("li")).getSubcommands();
    assertEquals(List.of("list"), List.copyOf(one.keySet()));
    assertTrue(CangaCli.commandLine(Map.of(), List.of("--version")).getSubcommands().isEmpty());
    Map<String, CommandLine> all = CangaCli.commandLine(Map.of(), List.of("de")).getSubcommands();
    assertTrue(
        all.keySet().containsAll(List.of("add", "del", "rm", "deltag", "rmtag", "deploy", "wipe")),
        all.keySet().toString());
  }

  @Test
  void theTableOfNamesAndAliasesIsTheCommandsOwn() {
    Map<String, CommandLine> all = CangaCli.commandLine(Map.of(), List.of()).getSubcommands();
    Set<String> table = new TreeSet<>();
    for (String[] names : CangaCli.VERBS) {
      table.addAll(List.of(names));
      CommandLine.Model.CommandSpec spec = all.get(names[0]).getCommandSpec();
      assertEquals(names[0], spec.name());
      assertEquals(List.of(names).subList(1, names.length), List.of(spec.aliases()));
    }
    assertEquals(new TreeSet<>(all.keySet()), table);
  }
}
