package dev.qcow2.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The launcher's choice of JVM options (bin/qcow2-build.sh's qcow2_pick_java_opts): the jobs that
 * hash or encrypt get the server compiler, short jobs the client compiler alone; remote commands
 * start from the archive trained on the remote paths.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class LauncherOptionsTest {
  private static final String CLIENT_ONLY = "-XX:TieredStopAtLevel=1";

  @Test
  @Timeout(60)
  void should_give_uploads_to_s3_the_server_compiler() throws Exception {
    assertServerCompiler("qcow2", "convert", "-f", "raw", "-O", "raw", "a.raw", "s3://b/k.raw");
    assertServerCompiler("qcow2", "convert", "-O", "qcow2", "-c", "a.qcow2", "s3://b/dir/k");
    assertServerCompiler("canga", "push");
    assertServerCompiler("canga", "--config", "c.yaml", "push", "--remote", "origin");
  }

  @Test
  @Timeout(60)
  void should_keep_short_jobs_and_downloads_on_the_client_compiler() throws Exception {
    assertClientCompiler("qcow2", "convert", "-O", "raw", "s3://b/k.qcow2", "out.raw");
    assertClientCompiler("qcow2", "convert", "-O", "raw", "a.qcow2", "b.raw");
    assertClientCompiler("qcow2", "info", "s3://b/k.qcow2");
    // The value of --config is not the verb, even when it looks like one.
    assertClientCompiler("canga", "--config", "push", "list");
  }

  @Test
  @Timeout(60)
  void should_still_give_hashing_verbs_the_server_compiler() throws Exception {
    assertServerCompiler("qcow2", "hash", "a.qcow2");
    assertServerCompiler("canga", "add", "a.qcow2");
  }

  @Test
  @Timeout(60)
  void should_start_remote_commands_from_the_remote_archive() throws Exception {
    assertEquals("-remote", archive("qcow2", "info", "s3://b/k.qcow2"));
    assertEquals("-remote", archive("qcow2", "map", "--output=json", "https://h/a.qcow2"));
    assertEquals("-remote", archive("qcow2", "convert", "-O", "raw", "a.raw", "s3://b/k"));
    assertEquals("-remote", archive("canga", "--config", "c.yaml", "push"));
    assertEquals("-remote", archive("canga", "pull", "img"));
    assertEquals("", archive("qcow2", "info", "a.qcow2"));
    assertEquals("", archive("canga", "--config", "c.yaml", "list"));
  }

  private static void assertServerCompiler(String... args) throws Exception {
    String opts = pick(args);
    assertTrue(!opts.contains(CLIENT_ONLY) && opts.contains("-XX:+UseSerialGC"), opts);
  }

  private static void assertClientCompiler(String... args) throws Exception {
    String opts = pick(args);
    assertTrue(opts.contains(CLIENT_ONLY), String.join(" ", args) + ": " + opts);
  }

  /** qcow2_pick_java_opts's JVM options for {@code args} (the command set first). */
  private static String pick(String... args) throws IOException, InterruptedException {
    return bash("$qcow2_java_opts", args);
  }

  /** The archive qcow2_pick_java_opts chooses for {@code args}: "" or "-remote". */
  private static String archive(String... args) throws IOException, InterruptedException {
    return bash("$qcow2_cds_archive", args);
  }

  /** {@code variable} after qcow2_pick_java_opts with {@code args}, run by bash. */
  private static String bash(String variable, String... args)
      throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add("bash");
    cmd.add("-c");
    cmd.add(". \"$0\" && qcow2_pick_java_opts \"$@\" && printf '%s' \"" + variable + "\"");
    cmd.add(launcher().toString());
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(30, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("bash did not end");
    }
    assertEquals(0, p.exitValue(), out);
    return out;
  }

  /** bin/qcow2-build.sh of this checkout: the tests run in the module's folder or the root. */
  private static Path launcher() {
    Path here = Path.of(System.getProperty("user.dir")).toAbsolutePath();
    for (Path d = here; d != null; d = d.getParent()) {
      Path script = d.resolve("bin/qcow2-build.sh");
      if (Files.isRegularFile(script)) {
        return script;
      }
    }
    throw new AssertionError("no bin/qcow2-build.sh above " + here);
  }
}
