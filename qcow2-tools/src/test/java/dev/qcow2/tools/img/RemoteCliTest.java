package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.remote.RangeServer;
import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import dev.qcow2.tools.Cli;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The read verbs on http URLs, against a test server on a loopback port: each prints what it prints
 * for the same local file (the URL in place of the path), and a URL that cannot be read is one line
 * and exit status 1.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RemoteCliTest {
  private static final long MiB = 1 << 20;

  @TempDir Path dir;
  RangeServer server;
  String local;
  String url;

  @BeforeEach
  void start() throws Exception {
    server = new RangeServer();
    Path repo = Files.createDirectories(dir.resolve("repo"));
    TestData.writeRaw(dir.resolve("src.raw"), 12 * MiB, 2);
    Qemu.img(
        repo,
        "convert",
        "-c",
        "-O",
        "qcow2",
        "-o",
        "compression_type=zstd",
        "../src.raw",
        "base.qcow2");
    Qemu.img(repo, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");
    Qemu.io(repo, "top.qcow2", "write -P 0x61 3M 2M", "write -z 8M 1M");
    server
        .put("repo/base.qcow2", repo.resolve("base.qcow2"))
        .put("repo/top.qcow2", repo.resolve("top.qcow2"));
    local = repo.resolve("top.qcow2").toString();
    url = server.uri("repo/top.qcow2").toString();
  }

  @AfterEach
  void stop() {
    server.close();
  }

  private String ok(String... args) {
    Cli.Result r = Cli.run(args);
    assertEquals(0, r.exitCode(), r.stderr());
    return r.stdout();
  }

  private String asLocal(String output) {
    return output.replace(server.uri("repo/").toString(), dir.resolve("repo") + "/");
  }

  @Test
  void infoAlongTheChainAndMapAsForTheFile() {
    String info = ok("qcow2", "info", "--output=json", "--backing-chain", url);
    assertTrue(info.contains("\"filename\": \"" + url + "\""), info);
    assertTrue(
        info.contains("\"full-backing-filename\": \"" + server.uri("repo/base.qcow2") + "\""),
        info);
    String localInfo = ok("qcow2", "info", "--output=json", "--backing-chain", local);
    // The same but for actual-size: a file's allocated blocks, an object's length.
    assertEquals(
        localInfo.replaceAll("\"actual-size\": \\d+", ""),
        asLocal(info).replaceAll("\"actual-size\": \\d+", ""));
    assertEquals(
        ok("qcow2", "map", "--output=json", local),
        asLocal(ok("qcow2", "map", "--output=json", url)));
    // The human form refuses compressed clusters, as qemu-img's does, for a URL as for a file.
    Cli.Result human = Cli.run("qcow2", "map", url);
    assertEquals(1, human.exitCode());
    assertEquals(Cli.run("qcow2", "map", local).stderr(), human.stderr());
  }

  @Test
  void convertHashCompareMeasureAndCheckRead() throws Exception {
    ok("qcow2", "convert", "-O", "raw", url, dir.resolve("out.raw").toString());
    Qemu.img(dir, "compare", "-f", "raw", "-F", "qcow2", "out.raw", local);
    ok("qcow2", "convert", "-O", "qcow2", "-c", url, dir.resolve("out.qcow2").toString());
    Qemu.img(dir, "check", "out.qcow2");
    Qemu.img(dir, "compare", "out.qcow2", local);
    assertEquals(
        ok("qcow2", "hash", "-a", "sha256", local).replace(local, url),
        ok("qcow2", "hash", "-a", "sha256", url));
    assertEquals("Images are identical.\n", ok("qcow2", "compare", url, local));
    assertEquals(
        ok("qcow2", "measure", "-O", "qcow2", local), ok("qcow2", "measure", "-O", "qcow2", url));
    assertEquals(ok("qcow2", "check", local), ok("qcow2", "check", url));
  }

  @Test
  void whatCannotBeReadIsOneLineAndExitStatus1() {
    assertFailsInOneLine(
        server.uri("repo/none.qcow2") + ": not found (HTTP 404)",
        "info",
        server.uri("repo/none.qcow2").toString());
    assertFailsInOneLine(
        url + ": a remote image is read-only and cannot be repaired", "check", "-r", "all", url);
    assertFailsInOneLine(
        "http://127.0.0.1:1/x y: not a valid URL (Illegal character in path at index 20)",
        "info",
        "http://127.0.0.1:1/x y");
    Qemu.img(
        dir.resolve("repo"),
        "create",
        "-q",
        "-f",
        "qcow2",
        "-u",
        "-b",
        "../src.raw",
        "-F",
        "raw",
        "out.qcow2",
        "12M");
    server
        .put("src.raw", dir.resolve("src.raw"))
        .put("repo/out.qcow2", dir.resolve("repo/out.qcow2"));
    String out = server.uri("repo/out.qcow2").toString();
    for (String verb : new String[] {"convert", "info"}) {
      server.resetCounts();
      Cli.Result r =
          verb.equals("info")
              ? Cli.run("qcow2", "info", "--backing-chain", out)
              : Cli.run("qcow2", "convert", "-O", "raw", out, dir.resolve("x.raw").toString());
      assertEquals(1, r.exitCode(), verb);
      assertEquals(
          "qcow2: "
              + out
              + ": backing file name \"../src.raw\" holds a \"..\" segment: "
              + "a remote image's backing file must lie in its own folder\n",
          r.stderr(),
          verb);
      assertEquals(
          java.util.Set.of("/repo/out.qcow2"), server.paths, verb + " asked only for the image");
    }
    server.ignoreRange = true;
    Cli.Result r = Cli.run("qcow2", "hash", url);
    assertEquals(1, r.exitCode());
    assertTrue(
        r.stderr().startsWith("qcow2: " + url + ": the server ignores range requests"), r.stderr());
    assertEquals(1, r.stderr().split("\n").length, r.stderr());
  }

  private static void assertFailsInOneLine(String message, String... args) {
    String[] all = new String[args.length + 1];
    all[0] = "qcow2";
    System.arraycopy(args, 0, all, 1, args.length);
    Cli.Result r = Cli.run(all);
    assertEquals(1, r.exitCode(), r.stderr());
    assertEquals("qcow2: " + message + "\n", r.stderr());
  }
}
