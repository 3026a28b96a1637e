package dev.qcow2.tools.img;

import static dev.qcow2.tools.img.ServeFixture.freePort;
import static dev.qcow2.tools.img.ServeFixture.stopBySignal;
import static dev.qcow2.tools.img.ServeFixture.waitFor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.qcow2.remote.RangeServer;
import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import dev.qcow2.tools.Cli;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code qcow2 serve} with qemu-nbd's options, checked with nbdinfo, nbdcopy and qemu-img as
 * clients. Servers listen on 127.0.0.1 at free ports; in-process ones run on a thread, and the
 * signal tests run the command as a process of its own. Every client runs with a time limit.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ServeCommandTest {
  private static final long CLIENT_SECONDS = ServeFixture.CLIENT_SECONDS;
  private static final long SIZE = 4L << 20;

  @TempDir Path dir;

  private ServeFixture serve;

  @BeforeEach
  void fixture() {
    serve = new ServeFixture(dir);
  }

  private CompletableFuture<Cli.Result> serveInProcess(String... args) throws Exception {
    return serve.serveInProcess(args);
  }

  private Process serveProcess(String... args) throws IOException {
    return serve.serveProcess(args);
  }

  private Qemu.Result client(String... command) throws Exception {
    return serve.client(command);
  }

  private String ok(String... command) throws Exception {
    return serve.ok(command);
  }

  private String image(String name) throws IOException {
    Path raw = dir.resolve(name + ".raw");
    TestData.writeRaw(raw, SIZE, name.hashCode());
    Qemu.img(dir, "convert", "-O", "qcow2", raw.toString(), name);
    return dir.resolve(name).toString();
  }

  @Test
  void serves_read_only_on_loopback_and_exits_when_the_client_leaves() throws Exception {
    String image = image("a.qcow2");
    int port = freePort();
    CompletableFuture<Cli.Result> run =
        serveInProcess("-r", "-x", "disk", "-D", "my disk", "-p", "" + port, image);
    String list = ok("nbdinfo", "--list", "nbd://127.0.0.1:" + port);
    assertTrue(list.contains("export=\"disk\":") && list.contains("description: my disk"), list);
    Cli.Result r = run.get(30, TimeUnit.SECONDS);
    assertEquals(0, r.exitCode(), r.stderr());
  }

  @Test
  void a_silent_client_is_dropped_after_the_handshake_limit_and_the_server_exits()
      throws Exception {
    String image = image("a.qcow2");
    int port = freePort();
    CompletableFuture<Cli.Result> run =
        serveInProcess("--handshake-limit", "1", "-p", "" + port, image);
    try (java.net.Socket silent = new java.net.Socket(InetAddress.getLoopbackAddress(), port)) {
      silent.setSoTimeout(20_000);
      java.io.InputStream in = silent.getInputStream();
      assertEquals(18, in.readNBytes(18).length); // the greeting, then nothing from us
      assertEquals(-1, in.read(), "dropped after the limit");
    }
    Cli.Result r = run.get(30, TimeUnit.SECONDS);
    assertEquals(0, r.exitCode(), r.stderr());
  }

  @Test
  void persistent_serves_several_clients_and_shared_advertises_multi_conn() throws Exception {
    String image = image("a.qcow2");
    int port = freePort();
    String uri = "nbd://127.0.0.1:" + port + "/";
    Path pidFile = dir.resolve("p.pid");
    Process server =
        serveProcess("-t", "-e", "4", "-p", "" + port, "--pid-file", pidFile.toString(), image);
    try {
      waitFor(pidFile, null);
      assertEquals(0, client("nbdinfo", "--can", "multi-conn", uri).exitCode());
      assertEquals(0, client("nbdinfo", "--can", "write", uri).exitCode());
      ok("nbdcopy", "--connections=4", uri, "copy.raw");
      ok("nbdcopy", "--connections=4", "--requests=64", dir.resolve("a.qcow2.raw").toString(), uri);
      assertTrue(server.isAlive(), "-t keeps serving after the clients leave");
    } finally {
      stopBySignal(server);
    }
    assertEquals(-1, Files.mismatch(dir.resolve("a.qcow2.raw"), dir.resolve("copy.raw")));
    String check = Qemu.img(dir, "check", image);
    assertTrue(check.contains("No errors were found on the image."), check);
  }

  @Test
  void sigterm_while_a_client_writes_leaves_a_clean_image() throws Exception {
    String image = image("a.qcow2");
    Path src = dir.resolve("src.raw");
    TestData.writeRaw(src, SIZE, 99);
    int port = freePort();
    Path pidFile = dir.resolve("p.pid");
    Process server = serveProcess("-p", "" + port, "--pid-file", pidFile.toString(), image);
    waitFor(pidFile, null);
    Process copy =
        new ProcessBuilder(
                "nbdcopy", "--requests=64", src.toString(), "nbd://127.0.0.1:" + port + "/")
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .start();
    Thread.sleep(150);
    stopBySignal(server);
    if (!copy.waitFor(CLIENT_SECONDS, TimeUnit.SECONDS)) {
      copy.destroyForcibly();
      fail("nbdcopy did not end when the server stopped");
    }
    String check = Qemu.img(dir, "check", image);
    assertTrue(check.contains("No errors were found on the image."), check);
    assertTrue(!Files.exists(pidFile), "the pid file is removed");
  }

  @Test
  void fork_returns_once_serving_and_the_server_runs_on() throws Exception {
    String image = image("a.qcow2");
    Path socket = dir.resolve("nbd.sock");
    Path pidFile = dir.resolve("p.pid");
    Process parent =
        serveProcess(
            "--fork", "-t", "-r", "-k", socket.toString(), "--pid-file", pidFile.toString(), image);
    if (!parent.waitFor(CLIENT_SECONDS, TimeUnit.SECONDS)) {
      parent.destroyForcibly();
      fail("--fork did not return");
    }
    assertEquals(0, parent.exitValue(), Files.readString(dir.resolve("server.log")));
    long pid = Long.parseLong(Files.readString(pidFile).strip());
    ProcessHandle child = ProcessHandle.of(pid).orElseThrow();
    try {
      String json = ok("nbdinfo", "--json", "nbd+unix:///?socket=" + socket);
      assertTrue(json.contains("\"export-size\": " + SIZE), json);
      assertEquals(
          2, client("nbdinfo", "--can", "write", "nbd+unix:///?socket=" + socket).exitCode());
    } finally {
      child.destroy();
      child.onExit().get(CLIENT_SECONDS, TimeUnit.SECONDS);
    }
    assertTrue(!Files.exists(socket), "the socket file is removed");
  }

  @Test
  void load_snapshot_exports_the_snapshot_read_only() throws Exception {
    String image = image("a.qcow2");
    Qemu.img(dir, "snapshot", "-c", "before", image);
    Qemu.io(dir, image, "write -P 9 0 1M");
    int port = freePort();
    CompletableFuture<Cli.Result> run = serveInProcess("-l", "before", "-p", "" + port, image);
    ok(
        "qemu-img",
        "convert",
        "-f",
        "raw",
        "-O",
        "raw",
        "nbd://127.0.0.1:" + port + "/",
        "copy.raw");
    assertEquals(0, run.get(30, TimeUnit.SECONDS).exitCode());
    assertEquals(-1, Files.mismatch(dir.resolve("a.qcow2.raw"), dir.resolve("copy.raw")));
  }

  @Test
  void allocation_depth_and_discard_reach_the_clients() throws Exception {
    String image = image("a.qcow2");
    int port = freePort();
    String uri = "nbd://127.0.0.1:" + port + "/";
    Path pidFile = dir.resolve("p.pid");
    Process server =
        serveProcess(
            "-t",
            "-A",
            "--discard=unmap",
            "-p",
            "" + port,
            "--pid-file",
            pidFile.toString(),
            image);
    try {
      waitFor(pidFile, null);
      assertTrue(ok("nbdinfo", "--map=qemu:allocation-depth", uri).contains("local"));
      assertEquals(0, client("nbdinfo", "--can", "trim", uri).exitCode());
    } finally {
      stopBySignal(server);
    }
  }

  @Test
  void tls_creds_serve_nbds_clients_only() throws Exception {
    String image = image("a.qcow2");
    Path tls = serve.tlsCredentials();
    int port = freePort();
    Path pidFile = dir.resolve("p.pid");
    Process server =
        serveProcess(
            "-t",
            "-r",
            "-p",
            "" + port,
            "--pid-file",
            pidFile.toString(),
            "--object",
            "tls-creds-x509,id=tls0,dir=" + tls + ",endpoint=server,verify-peer=off",
            "--tls-creds",
            "tls0",
            image);
    try {
      waitFor(pidFile, null);
      String json =
          ok("nbdinfo", "--json", "nbds://127.0.0.1:" + port + "/?tls-certificates=" + tls);
      assertTrue(json.contains("\"export-size\": " + SIZE), json);
      assertTrue(
          client("nbdinfo", "--json", "nbd://127.0.0.1:" + port + "/").exitCode() != 0,
          "a client without TLS is refused");
    } finally {
      stopBySignal(server);
    }
  }

  @Test
  void a_url_is_served_read_only_and_reads_as_the_local_file() throws Exception {
    Path raw = dir.resolve("web.raw");
    TestData.writeRaw(raw, SIZE, 7);
    Qemu.img(
        dir,
        "convert",
        "-c",
        "-O",
        "qcow2",
        "-o",
        "compression_type=zstd",
        raw.toString(),
        "web.qcow2");
    Qemu.img(dir, "convert", "-O", "raw", "web.qcow2", "expected.raw");
    try (RangeServer web = new RangeServer()) {
      web.put("web.qcow2", dir.resolve("web.qcow2"));
      String url = web.uri("web.qcow2").toString();
      Cli.Result writable = Cli.run("qcow2", "serve", "-p", "0", url);
      assertEquals(1, writable.exitCode(), writable.stderr());
      assertEquals(1, writable.stderr().strip().lines().count(), writable.stderr());
      assertTrue(writable.stderr().contains("read-only (-r)"), writable.stderr());
      int port = freePort();
      CompletableFuture<Cli.Result> run = serveInProcess("-r", "-p", "" + port, url);
      String uri = "nbd://127.0.0.1:" + port + "/";
      ok("nbdcopy", uri, "copy.raw");
      assertEquals(0, run.get(30, TimeUnit.SECONDS).exitCode());
    }
    assertEquals(-1, Files.mismatch(dir.resolve("expected.raw"), dir.resolve("copy.raw")));
  }

  @Test
  void refuses_what_cannot_run() {
    assertTrue(Cli.run("qcow2", "serve", "-b", "0.0.0.0", "f").stderr().contains("needs TLS"));
    assertTrue(
        Cli.run("qcow2", "serve", "--object", "iothread,id=io0", "f")
            .stderr()
            .contains("only secret and tls-creds-x509 objects"));
    assertTrue(
        Cli.run(
                "qcow2",
                "serve",
                "--object",
                "tls-creds-x509,id=t0,dir=/nope,endpoint=server",
                "--tls-creds",
                "t1",
                "f")
            .stderr()
            .contains("No TLS credentials with id 't1'"));
    assertTrue(
        Cli.run("qcow2", "serve", "--object", "tls-creds-x509,id=t0,dir=/nope", "f")
            .stderr()
            .contains("server endpoint"));
    assertTrue(
        Cli.run("qcow2", "serve", "-k", "/tmp/x.sock", "-p", "1", "f")
            .stderr()
            .contains("-k cannot be used with -p or -b"));
    assertTrue(
        Cli.run("qcow2", "serve", "--discard=maybe", "f")
            .stderr()
            .contains("Invalid discard option"));
    assertTrue(Cli.run("qcow2", "serve", "-e", "-1", "f").exitCode() != 0);
    Cli.Result missing = Cli.run("qcow2", "serve", "-p", "0", dir.resolve("nope.qcow2").toString());
    assertEquals(1, missing.exitCode());
    assertTrue(Cli.run("qcow2", "--help").stdout().contains("  serve "));
  }
}
