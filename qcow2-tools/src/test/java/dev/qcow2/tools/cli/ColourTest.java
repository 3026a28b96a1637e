package dev.qcow2.tools.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine.Help.Ansi;

/** Colour only on a terminal, and never with NO_COLOR set to something (no-color.org). */
class ColourTest {
  @Test
  void colourOnlyOnATerminalWithoutNoColor() {
    assertSame(Colour.ON, Colour.decide(true, Map.of()));
    assertSame(Colour.OFF, Colour.decide(false, Map.of()));
    assertSame(Colour.OFF, Colour.decide(true, Map.of("NO_COLOR", "1")));
    assertSame(Colour.OFF, Colour.decide(true, Map.of("NO_COLOR", "false")), "any value");
    assertSame(Colour.ON, Colour.decide(true, Map.of("NO_COLOR", "")), "empty is unset");
    assertSame(Colour.OFF, Colour.decide(false, Map.of("NO_COLOR", "")));
  }

  @Test
  void styledTextHasTheEscapesOnlyWhenOn() {
    assertEquals("\u001b[1;4mNAME\u001b[0m", Colour.ON.style("1;4", "NAME"));
    assertEquals("NAME", Colour.OFF.style("1;4", "NAME"));
    assertEquals(Ansi.ON, Colour.ON.ansi());
    assertEquals(Ansi.OFF, Colour.OFF.ansi());
  }

  @Test
  void aTestJvmsPipedOutputIsNoTerminal() {
    // Surefire gives the forked JVM pipes, as a shell pipe or redirection would.
    assertFalse(Colour.stdoutIsTerminal());
    assertSame(Colour.OFF, Colour.forStdout(Map.of()));
  }
}
