package dev.qcow2.remote;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * nginx (Debian's nginx-light) started for a test on a loopback port with its own configuration,
 * serving {@code root}; everything it writes (pid, logs, temporary files) stays under {@code
 * state}. Its access log holds the body bytes of each answer, so tests count what was sent. Workers
 * run as root: JUnit's temporary folders are mode 0700.
 */
final class Nginx implements AutoCloseable {
  private final Process process;
  private final Path accessLog;
  private final int port;
  private final String scheme;

  Nginx(Path root, Path state) throws IOException, InterruptedException {
    this(root, state, null, null);
  }

  /** With a certificate and its key (PEM), nginx serves https instead of http. */
  Nginx(Path root, Path state, Path certificate, Path key)
      throws IOException, InterruptedException {
    scheme = certificate == null ? "http" : "https";
    if (!Files.isExecutable(Path.of("/usr/sbin/nginx"))) {
      fail("nginx is not installed (apt-get install nginx-light)");
    }
    Files.createDirectories(state);
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    accessLog = state.resolve("access.log");
    String conf =
        String.join(
            "\n",
            "daemon off;",
            "user root;",
            "worker_processes 2;",
            "pid " + state.resolve("nginx.pid") + ";",
            "error_log " + state.resolve("error.log") + ";",
            "events { worker_connections 256; }",
            "http {",
            "  log_format sent '$request_uri $status $body_bytes_sent';",
            "  access_log " + accessLog + " sent;",
            "  client_body_temp_path " + state.resolve("body") + ";",
            "  proxy_temp_path " + state.resolve("proxy") + ";",
            "  fastcgi_temp_path " + state.resolve("fastcgi") + ";",
            "  uwsgi_temp_path " + state.resolve("uwsgi") + ";",
            "  scgi_temp_path " + state.resolve("scgi") + ";",
            "  server {",
            "    listen 127.0.0.1:" + port + (certificate == null ? ";" : " ssl;"),
            certificate == null ? "" : "    ssl_certificate " + certificate + ";",
            certificate == null ? "" : "    ssl_certificate_key " + key + ";",
            "    root " + root + ";",
            "  }",
            "}",
            "");
    Path confFile = Files.writeString(state.resolve("nginx.conf"), conf);
    process =
        new ProcessBuilder(
                List.of("/usr/sbin/nginx", "-c", confFile.toString(), "-p", state.toString()))
            .redirectErrorStream(true)
            .redirectOutput(state.resolve("stdout.log").toFile())
            .start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (true) {
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 200);
        return;
      } catch (IOException e) {
        if (!process.isAlive() || System.nanoTime() > deadline) {
          close();
          fail(
              "nginx did not start: "
                  + Files.readString(state.resolve("stdout.log"))
                  + (Files.exists(state.resolve("error.log"))
                      ? Files.readString(state.resolve("error.log"))
                      : ""));
        }
        Thread.sleep(50);
      }
    }
  }

  URI uri(String path) {
    return URI.create(scheme + "://127.0.0.1:" + port + "/" + path);
  }

  /** The body bytes sent so far, from the access log (written as each answer ends). */
  long bytesSent() throws IOException {
    if (!Files.exists(accessLog)) {
      return 0;
    }
    long sum = 0;
    for (String line : Files.readAllLines(accessLog)) {
      String[] f = line.trim().split(" ");
      sum += Long.parseLong(f[f.length - 1]);
    }
    return sum;
  }

  @Override
  public void close() {
    process.destroy(); // SIGTERM: nginx's fast shutdown, workers included
    try {
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
