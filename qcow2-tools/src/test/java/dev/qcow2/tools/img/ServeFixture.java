package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * What the {@code qcow2 serve} tests share: servers on 127.0.0.1 at free ports, in-process on a
 * thread or as a process of their own, and NBD clients (nbdinfo, nbdcopy, qemu-img, qemu-io, and
 * qemu-nbd as the reference server) run in {@code dir} with a time limit.
 */
final class ServeFixture {
  static final long CLIENT_SECONDS = 60;

  private final Path dir;

  ServeFixture(Path dir) {
    this.dir = dir;
  }

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  /** Runs a client with a time limit; returns its exit code, output and errors. */
  Qemu.Result client(String... command) throws Exception {
    Process p =
        new ProcessBuilder(command)
            .directory(dir.toFile())
            .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
            .start();
    CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()));
    CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
    if (!p.waitFor(CLIENT_SECONDS, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail("timed out: " + String.join(" ", command));
    }
    return new Qemu.Result(p.exitValue(), out.join(), err.join());
  }

  /** Runs a client that must succeed; returns its output. */
  String ok(String... command) throws Exception {
    Qemu.Result r = client(command);
    assertEquals(0, r.exitCode(), String.join(" ", command) + "\n" + r.stdout() + r.stderr());
    return r.stdout();
  }

  private static String read(InputStream in) {
    try (in) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Runs {@code qcow2 serve ARGS} on a thread; it is ready once its pid file exists. */
  CompletableFuture<Cli.Result> serveInProcess(String... args) throws Exception {
    Path pid = dir.resolve("serve-" + System.nanoTime() + ".pid");
    List<String> all = new ArrayList<>(List.of("qcow2", "serve", "--pid-file", pid.toString()));
    all.addAll(List.of(args));
    CompletableFuture<Cli.Result> run =
        CompletableFuture.supplyAsync(() -> Cli.run(all.toArray(String[]::new)));
    waitFor(pid, run);
    return run;
  }

  /** Waits up to 30 s for {@code file}, failing at once if {@code orDone} (if any) ends first. */
  static void waitFor(Path file, CompletableFuture<?> orDone) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!Files.exists(file)) {
      if (orDone != null && orDone.isDone()) {
        fail("the server ended before it was ready: " + orDone.get());
      }
      if (System.nanoTime() > deadline) {
        fail("no " + file + " after 30 s");
      }
      Thread.sleep(20);
    }
  }

  /** SIGTERM (Process.destroy), then the server must exit by itself within the time limit. */
  static void stopBySignal(Process server) throws Exception {
    server.destroy();
    if (!server.waitFor(CLIENT_SECONDS, TimeUnit.SECONDS)) {
      server.destroyForcibly();
      fail("the server did not stop on SIGTERM");
    }
  }

  /** {@code qcow2 serve ARGS} as a process of its own, on this JVM's class path. */
  Process serveProcess(String... args) throws IOException {
    List<String> cmd =
        new ArrayList<>(
            List.of(
                ProcessHandle.current().info().command().orElse("java"),
                "-cp",
                System.getProperty("java.class.path"),
                "dev.qcow2.tools.Main",
                "qcow2",
                "serve"));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd)
        .directory(dir.toFile())
        .redirectErrorStream(true)
        .redirectOutput(dir.resolve("server.log").toFile())
        .start();
  }

  /**
   * {@code qcow2 serve -t -p PORT ARGS} as a process of its own, returned once it serves; the test
   * stops it with {@link #stopBySignal}.
   */
  Process servePersistent(int port, String... args) throws Exception {
    Path pid = dir.resolve("serve-" + port + ".pid");
    List<String> all =
        new ArrayList<>(List.of("-t", "-p", "" + port, "--pid-file", pid.toString()));
    all.addAll(List.of(args));
    Process p = serveProcess(all.toArray(String[]::new));
    waitFor(pid, null);
    return p;
  }

  /**
   * A test CA and a server certificate for 127.0.0.1, made with openssl in {@code dir/tls}: the
   * files qemu's tls-creds-x509 reads, whose CA certificate a client trusts with {@code
   * ?tls-certificates=DIR}.
   */
  Path tlsCredentials() throws Exception {
    Path tls = Files.createDirectories(dir.resolve("tls"));
    Files.writeString(
        dir.resolve("server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    ok(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca-key.pem",
        "-out",
        "tls/ca-cert.pem",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca");
    ok(
        "openssl",
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "tls/server-key.pem",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1");
    ok(
        "openssl",
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "tls/ca-cert.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-out",
        "tls/server-cert.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext");
    return tls;
  }

  /**
   * qemu-nbd serving with {@code args} on a free port, persistent, until {@code stop}: the
   * reference the tests compare our server with. Returns the process and its port.
   */
  QemuNbd qemuNbd(String... args) throws Exception {
    int port = freePort();
    Path pid = dir.resolve("qemu-nbd-" + port + ".pid");
    List<String> cmd =
        new ArrayList<>(
            List.of(
                "qemu-nbd",
                "-t",
                "-b",
                "127.0.0.1",
                "-p",
                "" + port,
                "--pid-file",
                pid.toString()));
    cmd.addAll(List.of(args));
    Process p =
        new ProcessBuilder(cmd)
            .directory(dir.toFile())
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("qemu-nbd-" + port + ".log").toFile())
            .start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!Files.exists(pid)) {
      if (!p.isAlive() || System.nanoTime() > deadline) {
        p.destroyForcibly();
        fail(
            "qemu-nbd did not start: "
                + Files.readString(dir.resolve("qemu-nbd-" + port + ".log")));
      }
      Thread.sleep(20);
    }
    return new QemuNbd(p, "nbd://127.0.0.1:" + port + "/");
  }

  /** A running qemu-nbd; closing it stops it. */
  record QemuNbd(Process process, String uri) implements AutoCloseable {
    @Override
    public void close() throws Exception {
      stopBySignal(process);
    }
  }
}
