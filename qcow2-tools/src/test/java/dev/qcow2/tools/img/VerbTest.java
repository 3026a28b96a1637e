package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.tools.cli.UsageException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The verbs' command-line parser: getopt_long's rules, and picocli's words for mistakes. */
class VerbTest {
  /** A verb that records what it was given, in order. */
  private static final class Probe extends Verb {
    final List<String> got = new ArrayList<>();
    List<String> operands;
    final boolean negatives;

    Probe(int min, int max, boolean negatives) {
      super(
          "probe",
          "A test verb.",
          "SRC DST",
          min,
          max,
          Opt.flag("-p", "progress"),
          Opt.flag("-c", "compress"),
          Opt.value("-O", "FMT", "format"),
          Opt.value("-o", "OPTIONS", "options"),
          Opt.value("--output", "human|json", "output"),
          Opt.flag("--out-of-order", "a second long name starting --out"),
          Opt.flag("-U,--force-share", "share"));
      this.negatives = negatives;
    }

    @Override
    void set(String key, String value) {
      got.add(value == null ? key : key + "=" + value);
    }

    @Override
    void operands(List<String> values) {
      operands = values;
    }

    @Override
    int run() {
      return 0;
    }

    @Override
    boolean negativeNumbersAreOperands() {
      return negatives;
    }
  }

  private static Probe parse(String... args) {
    Probe p = new Probe(2, 2, false);
    assertTrue(p.parse(List.of(args)));
    return p;
  }

  private static String refused(Probe p, String... args) {
    return assertThrows(UsageException.class, () -> p.parse(List.of(args))).getMessage();
  }

  @Test
  void optionsAndOperandsMixInAnyOrder() {
    Probe p = parse("a", "-O", "qcow2", "b", "-p");
    assertEquals(List.of("-O=qcow2", "-p"), p.got);
    assertEquals(List.of("a", "b"), p.operands);
  }

  @Test
  void shortFlagsClusterAndValuesAttach() {
    assertEquals(List.of("-p", "-c", "-O=raw"), parse("-pcOraw", "a", "b").got);
    assertEquals(List.of("-p", "-O=raw"), parse("-pO", "raw", "a", "b").got);
    assertEquals(
        List.of("-o=cluster_size=4k", "-o=lazy_refcounts=on"),
        parse("-ocluster_size=4k", "-o", "lazy_refcounts=on", "a", "b").got);
  }

  @Test
  void longOptionsTakeValuesEitherWayAndAnyUniquePrefix() {
    assertEquals(List.of("--output=json"), parse("--output=json", "a", "b").got);
    assertEquals(List.of("--output=json"), parse("--output", "json", "a", "b").got);
    assertEquals(List.of("--output="), parse("--output=", "a", "b").got);
    assertEquals(List.of("-U"), parse("--force", "a", "b").got);
    assertEquals(List.of("--out-of-order"), parse("--out-", "a", "b").got);
    assertEquals(
        "option '--out' is ambiguous; possibilities: --output --out-of-order",
        refused(new Probe(2, 2, false), "--out=json", "a", "b"));
  }

  @Test
  void doubleDashEndsTheOptions() {
    Probe p = parse("-p", "--", "-c", "--output");
    assertEquals(List.of("-p"), p.got);
    assertEquals(List.of("-c", "--output"), p.operands);
    Probe stdin = new Probe(1, 1, false);
    assertTrue(stdin.parse(List.of("-")));
    assertEquals(List.of("-"), stdin.operands);
  }

  @Test
  void mistakesAreNamed() {
    assertEquals("Unknown option: '--bogus'", refused(new Probe(2, 2, false), "--bogus", "a", "b"));
    assertEquals("Unknown option: '-x'", refused(new Probe(2, 2, false), "-px", "a", "b"));
    assertEquals(
        "Missing required parameter for option '-O' (FMT)",
        refused(new Probe(2, 2, false), "a", "b", "-O"));
    assertEquals(
        "Missing required parameter for option '--output' (human|json)",
        refused(new Probe(2, 2, false), "a", "b", "--output"));
    assertEquals(
        "option '--force-share' doesn't allow an argument",
        refused(new Probe(2, 2, false), "--force-share=yes", "a", "b"));
    assertEquals("Missing required parameters: 'SRC', 'DST'", refused(new Probe(2, 2, false)));
    assertEquals("Missing required parameter: 'DST'", refused(new Probe(2, 2, false), "a"));
    assertEquals("Unexpected argument: 'c'", refused(new Probe(2, 2, false), "a", "b", "c"));
  }

  @Test
  void negativeNumbersAreOperandsOnlyWhereTheVerbSaysSo() {
    Probe resize = new Probe(2, 2, true);
    assertTrue(resize.parse(List.of("-p", "a", "-3M")));
    assertEquals(List.of("a", "-3M"), resize.operands);
    assertEquals("Unknown option: '-3'", refused(new Probe(2, 2, false), "a", "-3M"));
  }

  @Test
  void helpIsPrintedAndNothingRuns() {
    Probe p = new Probe(2, 2, false);
    StringWriter text = new StringWriter();
    p.out = new PrintWriter(text);
    assertFalse(p.parse(List.of("-p", "--help")));
    assertTrue(
        text.toString().startsWith("Usage: qcow2 probe [OPTIONS] SRC DST\nA test verb.\n"),
        text.toString());
    // One column for the options, the widest ("--output human|json") and three spaces wide.
    assertTrue(text.toString().contains("\n  -U, --force-share     share\n"), text.toString());
    assertTrue(text.toString().contains("\n  -O FMT                format\n"), text.toString());
    assertTrue(text.toString().contains("\n  --output human|json   output\n"), text.toString());
  }
}
