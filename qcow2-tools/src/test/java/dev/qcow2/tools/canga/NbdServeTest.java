package dev.qcow2.tools.canga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.qcow2.remote.RangeServer;
import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code canga serve}: repository images read-only, instances writable, an image of a remote
 * repository read over http before it is pulled; nbdcopy and nbdinfo are the clients. The server
 * runs as a process of its own on a free loopback port and prints the URI to use.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class NbdServeTest {
  private static final long CLIENT_SECONDS = 60;

  @TempDir Path dir;
  Canga canga;
  Path source;

  @BeforeEach
  void setUp() throws Exception {
    canga = new Canga(dir);
    canga.config("");
    TestData.writeRaw(dir.resolve("src.raw"), 6L << 20, 5);
    Qemu.img(dir, "convert", "-O", "qcow2", "src.raw", "src.qcow2");
    source = dir.resolve("src.qcow2");
    canga.ok("add", source.toString(), "--tag", "disk");
  }

  /** A running {@code canga serve}, with the URI it printed. */
  private record Server(Process process, String uri) implements AutoCloseable {
    @Override
    public void close() throws Exception {
      process.destroy();
      if (!process.waitFor(CLIENT_SECONDS, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        fail("canga serve did not stop on SIGTERM");
      }
    }
  }

  private Server serve(String... args) throws Exception {
    List<String> cmd =
        new ArrayList<>(
            List.of(
                ProcessHandle.current().info().command().orElse("java"),
                "-cp",
                System.getProperty("java.class.path"),
                "dev.qcow2.tools.Main",
                "canga",
                "--config",
                canga.config.toString(),
                "serve",
                "-p",
                "0"));
    cmd.addAll(List.of(args));
    Process p =
        new ProcessBuilder(cmd)
            .directory(dir.toFile())
            .redirectError(dir.resolve("serve.log").toFile())
            .start();
    BufferedReader out =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    CompletableFuture<String> line =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                return out.readLine();
              } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
              }
            });
    String uri = line.get(CLIENT_SECONDS, TimeUnit.SECONDS);
    if (uri == null) {
      p.waitFor(CLIENT_SECONDS, TimeUnit.SECONDS);
      fail("canga serve printed no URI: " + Files.readString(dir.resolve("serve.log")));
    }
    return new Server(p, uri);
  }

  private Qemu.Result client(String... command) throws Exception {
    Process p =
        new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
    CompletableFuture<byte[]> out =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                return p.getInputStream().readAllBytes();
              } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
              }
            });
    if (!p.waitFor(CLIENT_SECONDS, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail("timed out: " + String.join(" ", command));
    }
    return new Qemu.Result(p.exitValue(), new String(out.join(), StandardCharsets.UTF_8), "");
  }

  private void ok(String... command) throws Exception {
    Qemu.Result r = client(command);
    assertEquals(0, r.exitCode(), String.join(" ", command) + "\n" + r.stdout());
  }

  @Test
  void a_repository_image_is_served_read_only_under_its_name() throws Exception {
    try (Server server = serve("-t", "disk")) {
      assertTrue(server.uri().matches("nbd://127\\.0\\.0\\.1:\\d+/disk"), server.uri());
      assertEquals(2, client("nbdinfo", "--can", "write", server.uri()).exitCode(), "read-only");
      ok("nbdcopy", server.uri(), "copy.raw");
    }
    assertEquals(-1, Files.mismatch(dir.resolve("src.raw"), dir.resolve("copy.raw")));
  }

  @Test
  void an_instance_is_served_writable_and_stays_clean() throws Exception {
    canga.ok("instance", "create", "disk", "--name", "vm");
    Path instance = Path.of(canga.ok("instance", "path", "vm").stdout().strip());
    Path data = dir.resolve("new.raw");
    TestData.writeRaw(data, 6L << 20, 77);
    try (Server server = serve("-t", "-e", "4", "vm")) {
      assertEquals(0, client("nbdinfo", "--can", "write", server.uri()).exitCode(), "writable");
      ok("nbdcopy", "--connections=4", "--requests=64", data.toString(), server.uri());
      ok("nbdcopy", server.uri(), "copy.raw");
    }
    assertEquals(-1, Files.mismatch(data, dir.resolve("copy.raw")));
    String check = Qemu.img(dir, "check", instance.toString());
    assertTrue(check.contains("No errors were found on the image."), check);
    Qemu.img(dir, "compare", "-f", "raw", "-F", "qcow2", data.toString(), instance.toString());
    Path image =
        canga
            .defaultRepo()
            .resolve(
                canga
                        .ok("show", "disk")
                        .stdout()
                        .lines()
                        .filter(l -> l.strip().startsWith("sha256:"))
                        .findFirst()
                        .orElseThrow()
                        .split(":")[1]
                        .strip()
                    + ".qcow2");
    Qemu.img(
        dir,
        "compare",
        "-f",
        "raw",
        "-F",
        "qcow2",
        dir.resolve("src.raw").toString(),
        image.toString());
  }

  @Test
  void an_image_of_a_remote_repository_is_read_over_http_without_pulling() throws Exception {
    Path pub = canga.defaultRepo();
    try (RangeServer web = new RangeServer()) {
      try (var files = Files.list(pub)) {
        for (Path f : files.filter(Files::isRegularFile).toList()) {
          web.put(f.getFileName().toString(), f);
        }
      }
      canga.config(
          "    remote:\n        type: remote\n        path: "
              + canga.repo("remote")
              + "\n        url: "
              + web.uri("")
              + "\n");
      canga.ok("fetch", "remote");
      try (Server server = serve("remote:disk")) {
        ok("nbdcopy", server.uri(), "copy.raw");
        server.process().waitFor(CLIENT_SECONDS, TimeUnit.SECONDS);
        assertEquals(0, server.process().exitValue(), "exits when the client leaves");
      }
      assertTrue(web.requests.get() > 0);
    }
    assertEquals(-1, Files.mismatch(dir.resolve("src.raw"), dir.resolve("copy.raw")));
    try (var pulled = Files.list(canga.repo("remote"))) {
      assertTrue(pulled.noneMatch(f -> f.toString().endsWith(".qcow2")), "nothing pulled");
    }
  }

  @Test
  void refuses_what_it_cannot_serve() {
    var r = canga.run("serve", "nothing-here");
    assertEquals(255, r.exitCode());
    assertTrue(r.stderr().contains("Neither an instance nor an image: nothing-here"), r.stderr());
    var open = canga.run("serve", "-b", "0.0.0.0", "disk");
    assertEquals(255, open.exitCode());
    assertTrue(
        open.stderr().strip().endsWith("needs TLS (--object tls-creds-x509,... --tls-creds ID)"),
        open.stderr());
    assertEquals(255, canga.run("serve", "-e", "-1", "disk").exitCode());
  }
}
