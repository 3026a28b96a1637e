package dev.qcow2.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import java.nio.file.Path;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The entry point: command sets, exit codes and the one-line error shape. */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class MainTest {
  @TempDir Path dir;

  @Test
  void should_print_the_version_of_both_command_sets() {
    Cli.Result q = Cli.run("qcow2", "--version");
    assertEquals(0, q.exitCode());
    assertTrue(q.stdout().startsWith("qcow2 version "), q.stdout());
    Cli.Result c = Cli.run("canga", "--version");
    assertEquals(0, c.exitCode());
    assertTrue(c.stdout().startsWith("canga version "), c.stdout());
  }

  @Test
  void should_list_the_verbs_in_help() {
    Cli.Result r = Cli.run("qcow2", "--help");
    assertEquals(0, r.exitCode());
    for (String verb : new String[] {"info", "map", "convert", "create", "io"}) {
      assertTrue(r.stdout().contains("\n  " + verb + " "), r.stdout());
    }
    assertTrue(Cli.run("canga", "--help").stdout().startsWith("Usage: canga"));
    Cli.Result convert = Cli.run("qcow2", "convert", "--help");
    assertEquals(0, convert.exitCode());
    assertTrue(
        convert.stdout().startsWith("Usage: qcow2 convert [OPTIONS] SRC DST\n"), convert.stdout());
    assertTrue(convert.stdout().contains("\n  -O FMT "), convert.stdout());
  }

  @Test
  void should_refuse_a_bad_size_in_one_line() {
    Cli.Result r =
        Cli.run(
            "canga",
            "--config",
            dir.resolve("config.yaml").toString(),
            "create",
            dir.resolve("x.qcow2").toString(),
            "abc");
    assertEquals(1, r.exitCode());
    assertEquals(
        "canga: 'abc' is not a valid size (a whole number of bytes; k, M, G, T, P, E suffixes)\n",
        r.stderr());
  }

  @Test
  void should_refuse_an_unknown_verb_as_qemu_img_does() {
    Cli.Result r = Cli.run("qcow2", "frob", "x.qcow2");
    assertEquals(1, r.exitCode());
    assertEquals("qcow2: Command not found: frob\n", r.stderr());
  }

  @Test
  void should_list_the_canga_verbs_and_refuse_unknown_ones() {
    Cli.Result r = Cli.run("canga");
    assertEquals(0, r.exitCode());
    assertTrue(r.stdout().contains("check_system"), r.stdout());
    Cli.Result u = Cli.run("canga", "frob");
    assertEquals(1, u.exitCode());
    assertEquals("canga: Unmatched argument at index 0: 'frob'\n", u.stderr());
  }

  @Test
  void should_refuse_an_unknown_command_set() {
    Cli.Result r = Cli.run("qemu-img", "info", "x");
    assertEquals(1, r.exitCode());
    assertEquals("qcow2-tools: the first argument must be qcow2 or canga\n", r.stderr());
  }

  @Test
  void should_print_one_line_for_a_missing_file() {
    Path missing = dir.resolve("missing.qcow2");
    Cli.Result r = Cli.run("qcow2", "info", missing.toString());
    assertEquals(1, r.exitCode());
    assertEquals(
        "qcow2: Could not open '" + missing + "': No such file or directory\n", r.stderr());
    assertEquals("", r.stdout());
  }

  @Test
  void should_print_library_errors_as_they_are_and_add_the_trace_only_with_debug()
      throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "bad.qcow2", "1M");
    Path bad = dir.resolve("bad.qcow2");
    Poke.u32(bad, 20, 40); // cluster_bits far beyond what the spec allows
    Cli.Result r = Cli.run("qcow2", "map", bad.toString());
    assertEquals(1, r.exitCode());
    assertTrue(r.stderr().startsWith("qcow2: " + bad + ": header "), r.stderr());
    assertEquals(1, r.stderr().lines().count(), r.stderr());
    Cli.Result debug = Cli.run("qcow2", "--debug", "map", bad.toString());
    assertEquals(1, debug.exitCode());
    assertTrue(debug.stderr().startsWith(r.stderr()), debug.stderr());
    assertTrue(debug.stderr().contains("\tat dev.qcow2."), debug.stderr());
  }

  @Test
  void should_refuse_an_unknown_output_format_and_options_in_one_line() {
    Cli.Result r = Cli.run("qcow2", "info", "--output=xml", "x.qcow2");
    assertEquals(1, r.exitCode());
    assertEquals("qcow2: --output must be used with human or json as argument.\n", r.stderr());
    Cli.Result u = Cli.run("qcow2", "map", "--bogus", "x.qcow2");
    assertEquals(1, u.exitCode());
    assertEquals("qcow2: Unknown option: '--bogus'\n", u.stderr());
    assertEquals(1, Cli.run("qcow2").exitCode());
  }
}
