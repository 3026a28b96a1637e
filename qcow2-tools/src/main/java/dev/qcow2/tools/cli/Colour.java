package dev.qcow2.tools.cli;

import java.io.Console;
import java.lang.reflect.Method;
import java.util.Map;
import picocli.CommandLine.Help.Ansi;

/**
 * Whether a command may colour what it prints, decided once for both commands: only when standard
 * output is a terminal, and never when {@code NO_COLOR} is set to a non-empty value (no-color.org).
 * Pipes and files get plain text, whatever the command would print on a terminal.
 */
public final class Colour {
  /** Colour on: the escapes are printed. */
  public static final Colour ON = new Colour(true);

  /** Colour off: text only. */
  public static final Colour OFF = new Colour(false);

  private final boolean on;

  private Colour(boolean on) {
    this.on = on;
  }

  /** The decision for this process: its standard output, and {@code env} for NO_COLOR. */
  public static Colour forStdout(Map<String, String> env) {
    return decide(stdoutIsTerminal(), env);
  }

  /** The decision for an output that is a terminal or not, under {@code env}. */
  public static Colour decide(boolean terminal, Map<String, String> env) {
    String noColor = env.get("NO_COLOR");
    return terminal && (noColor == null || noColor.isEmpty()) ? ON : OFF;
  }

  /**
   * Whether this process's standard output is a terminal. On Java 17 {@link System#console()}
   * exists only when standard input and output both are terminals; from Java 22 it always exists
   * and {@code Console.isTerminal()} tells, hence the reflective call.
   */
  public static boolean stdoutIsTerminal() {
    Console console = System.console();
    if (console == null) {
      return false;
    }
    try {
      Method isTerminal = Console.class.getMethod("isTerminal");
      return (Boolean) isTerminal.invoke(console);
    } catch (NoSuchMethodException e) {
      return true;
    } catch (ReflectiveOperationException e) {
      return false;
    }
  }

  public boolean on() {
    return on;
  }

  /** {@code text} inside the SGR escape {@code codes} ("1;4" is bold underlined), or as it is. */
  public String style(String codes, String text) {
    return on ? "\u001b[" + codes + "m" + text + "\u001b[0m" : text;
  }

  /** The same decision for picocli's help. */
  public Ansi ansi() {
    return on ? Ansi.ON : Ansi.OFF;
  }
}
