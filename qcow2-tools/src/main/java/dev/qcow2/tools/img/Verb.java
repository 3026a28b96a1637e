package dev.qcow2.tools.img;

import dev.qcow2.tools.cli.UsageException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/**
 * One qemu-img verb: its options, its operands and its work.
 *
 * <p>The command line is parsed as qemu-img's {@code getopt_long} parses it: options and operands
 * in any order, short flags clustered ({@code -pc}), values attached or not ({@code -Oraw}, {@code
 * -O raw}, {@code --output=json}, {@code --output json}), a long name shortened to any unique
 * prefix, {@code --} ending the options, and the last of a repeated option winning. This class does
 * it instead of picocli (which the {@code canga} commands keep) because the verbs are short
 * commands whose start-up counts: building picocli's model of one verb took about 35 ms of every
 * run (a 1 MiB {@code convert}: 89 ms with picocli, 51 ms without).
 *
 * <p>A verb object serves one run: {@link #parse} fills its fields through {@link #set} and {@link
 * #operands}, then {@link #run} does the work.
 */
abstract class Verb {
  /**
   * One option. {@code names} are its spellings ({@code -f}, {@code --force-share}); the first is
   * the key {@link #set} receives. {@code label} names its value in help; null makes it a flag.
   */
  record Opt(String[] names, String label, String description) {
    static Opt flag(String names, String description) {
      return new Opt(names.split(","), null, description);
    }

    static Opt value(String names, String label, String description) {
      return new Opt(names.split(","), label, description);
    }

    String key() {
      return names[0];
    }

    boolean takesValue() {
      return label != null;
    }
  }

  private static final Opt HELP = Opt.flag("-h,--help", "Show this help and exit.");

  private final String name;
  private final String description;
  private final String operandLabel;
  private final int minOperands;
  private final int maxOperands;

  /** The verb's options, and -h/--help last. */
  private final List<Opt> options;

  /** Where the verb prints its results and its warnings. */
  PrintWriter out;

  PrintWriter err;

  /** The terminal stream a progress bar draws on (stderr, unbuffered). */
  PrintStream terminal;

  /**
   * @param operandLabel the operands as help shows them, e.g. {@code "SRC DST"}; for a missing one,
   *     the words of this label name what is missing
   * @param maxOperands {@link Integer#MAX_VALUE} for any number
   */
  Verb(
      String name,
      String description,
      String operandLabel,
      int minOperands,
      int maxOperands,
      Opt... options) {
    this.name = name;
    this.description = description;
    this.operandLabel = operandLabel;
    this.minOperands = minOperands;
    this.maxOperands = maxOperands;
    this.options = new ArrayList<>(List.of(options));
    this.options.add(HELP);
  }

  final String name() {
    return name;
  }

  final String description() {
    return description;
  }

  /** Takes one option: {@code key} is its first name, {@code value} null for a flag. */
  abstract void set(String key, String value);

  /** Takes the operands, already counted against the verb's minimum and maximum. */
  abstract void operands(List<String> values);

  /** Does the work; returns the exit code. */
  abstract int run() throws Exception;

  /**
   * Whether an argument such as {@code -3M} is an operand rather than options: qemu-img resize
   * takes its last argument as the size before getopt sees it, for the same reason.
   */
  boolean negativeNumbersAreOperands() {
    return false;
  }

  /**
   * Parses the verb's arguments (those after its name) into this object.
   *
   * @return false if help was asked for and printed: nothing is to be run
   * @throws UsageException for an unknown option, a missing value or a wrong number of operands
   */
  final boolean parse(List<String> args) {
    List<String> operands = new ArrayList<>();
    for (int i = 0; i < args.size(); i++) {
      String arg = args.get(i);
      if (arg.equals("--")) {
        operands.addAll(args.subList(i + 1, args.size()));
        break;
      }
      if (arg.startsWith("--")) {
        int eq = arg.indexOf('=');
        String spelled = eq < 0 ? arg : arg.substring(0, eq);
        Opt opt = longOption(spelled);
        String value = eq < 0 ? null : arg.substring(eq + 1);
        if (opt.takesValue() && value == null) {
          if (i + 1 >= args.size()) {
            throw missingValue(opt, spelled);
          }
          value = args.get(++i);
        } else if (!opt.takesValue() && value != null) {
          throw new UsageException("option '" + spelled + "' doesn't allow an argument");
        }
        if (opt == HELP) {
          printHelp();
          return false;
        }
        set(opt.key(), value);
      } else if (arg.length() > 1
          && arg.charAt(0) == '-'
          && !(negativeNumbersAreOperands() && Character.isDigit(arg.charAt(1)))) {
        for (int j = 1; j < arg.length(); j++) {
          String spelled = "-" + arg.charAt(j);
          Opt opt = find(spelled);
          if (opt == null) {
            throw new UsageException("Unknown option: '" + spelled + "'");
          }
          if (opt == HELP) {
            printHelp();
            return false;
          }
          if (!opt.takesValue()) {
            set(opt.key(), null);
            continue;
          }
          String value;
          if (j + 1 < arg.length()) {
            value = arg.substring(j + 1);
          } else if (i + 1 < args.size()) {
            value = args.get(++i);
          } else {
            throw missingValue(opt, spelled);
          }
          set(opt.key(), value);
          break;
        }
      } else {
        operands.add(arg);
      }
    }
    if (operands.size() < minOperands) {
      String[] labels = operandLabel.split(" ");
      List<String> missing = new ArrayList<>();
      for (int k = operands.size(); k < minOperands && k < labels.length; k++) {
        missing.add("'" + labels[k] + "'");
      }
      throw new UsageException(
          (missing.size() == 1 ? "Missing required parameter: " : "Missing required parameters: ")
              + String.join(", ", missing));
    }
    if (operands.size() > maxOperands) {
      throw new UsageException("Unexpected argument: '" + operands.get(maxOperands) + "'");
    }
    operands(operands);
    return true;
  }

  private Opt find(String spelled) {
    for (Opt o : options) {
      for (String n : o.names()) {
        if (n.equals(spelled)) {
          return o;
        }
      }
    }
    return null;
  }

  /** A long option by its full name or, as getopt_long allows, by a unique prefix of it. */
  private Opt longOption(String spelled) {
    Opt exact = find(spelled);
    if (exact != null) {
      return exact;
    }
    Opt match = null;
    List<String> candidates = new ArrayList<>();
    for (Opt o : options) {
      for (String n : o.names()) {
        if (n.startsWith("--") && n.startsWith(spelled)) {
          if (match != o) {
            candidates.add(n);
          }
          match = o;
        }
      }
    }
    if (candidates.size() == 1) {
      return match;
    }
    if (candidates.isEmpty()) {
      throw new UsageException("Unknown option: '" + spelled + "'");
    }
    throw new UsageException(
        "option '" + spelled + "' is ambiguous; possibilities: " + String.join(" ", candidates));
  }

  private static UsageException missingValue(Opt opt, String spelled) {
    return new UsageException(
        "Missing required parameter for option '" + spelled + "' (" + opt.label() + ")");
  }

  private void printHelp() {
    out.print(help());
    out.flush();
  }

  /** The verb's help: synopsis, description, and one line per option. */
  final String help() {
    StringBuilder sb = new StringBuilder();
    sb.append("Usage: qcow2 ").append(name).append(" [OPTIONS]");
    if (!operandLabel.isEmpty()) {
      sb.append(' ').append(operandLabel);
    }
    sb.append('\n').append(description).append("\n\nOptions:\n");
    List<String> left = new ArrayList<>();
    int width = 0;
    for (Opt o : options) {
      String l = String.join(", ", o.names()) + (o.takesValue() ? " " + o.label() : "");
      left.add(l);
      width = Math.max(width, l.length());
    }
    for (int k = 0; k < options.size(); k++) {
      String l = left.get(k);
      sb.append("  ")
          .append(l)
          .append(" ".repeat(width - l.length() + 3))
          .append(options.get(k).description())
          .append('\n');
    }
    return sb.toString();
  }
}
