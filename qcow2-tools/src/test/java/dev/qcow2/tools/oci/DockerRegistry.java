package dev.qcow2.tools.oci;

import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * Debian's {@code docker-registry} (distribution 2.8) on a free loopback port, with its storage,
 * configuration and log in a test folder; optionally behind htpasswd authentication (the file made
 * by {@code htpasswd -Bbn}). Started by the test and stopped by {@link #close}.
 */
public final class DockerRegistry implements AutoCloseable {
  public final Path dir;
  public final int port;
  public final Path log;
  private final Process process;

  private DockerRegistry(Path dir, int port, Path log, Process process) {
    this.dir = dir;
    this.port = port;
    this.log = log;
    this.process = process;
  }

  /** A registry without authentication. */
  public static DockerRegistry start(Path dir) throws Exception {
    return start(dir, null, null);
  }

  /** A registry whose only user is {@code user}/{@code password} (null: no authentication). */
  public static DockerRegistry start(Path dir, String user, String password) throws Exception {
    Files.createDirectories(dir);
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    StringBuilder config =
        new StringBuilder(
            "version: 0.1\nlog:\n  level: info\n"
                + "storage:\n  filesystem:\n    rootdirectory: "
                + dir.resolve("data")
                + "\n  delete:\n    enabled: true\n"
                + "http:\n  addr: 127.0.0.1:"
                + port
                + "\n  secret: test-secret\n");
    if (user != null) {
      String line = Qemu.run(dir, "htpasswd", "-Bbn", user, password).trim();
      Files.writeString(dir.resolve("htpasswd"), line + "\n");
      config
          .append("auth:\n  htpasswd:\n    realm: test-realm\n    path: ")
          .append(dir.resolve("htpasswd"))
          .append('\n');
    }
    Path cfg = dir.resolve("config.yml");
    Files.writeString(cfg, config);
    Path log = dir.resolve("registry.log");
    Process p =
        new ProcessBuilder("docker-registry", "serve", cfg.toString())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    DockerRegistry r = new DockerRegistry(dir, port, log, p);
    try {
      r.awaitReady();
    } catch (Exception e) {
      r.close();
      throw e;
    }
    return r;
  }

  private void awaitReady() throws Exception {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException("docker-registry exited: " + Files.readString(log));
      }
      try {
        int s =
            http.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v2/"))
                        .timeout(Duration.ofSeconds(2))
                        .build(),
                    HttpResponse.BodyHandlers.discarding())
                .statusCode();
        if (s == 200 || s == 401) {
          return;
        }
      } catch (IOException e) {
        // not listening yet
      }
      Thread.sleep(100);
    }
    throw new IllegalStateException(
        "docker-registry did not answer /v2/ in 30 s: " + Files.readString(log));
  }

  /** {@code oci://127.0.0.1:PORT/REPOSITORY}. */
  OciReference ref(String repository) {
    return OciReference.parse("oci://127.0.0.1:" + port + "/" + repository);
  }

  RegistryClient client(String repository) {
    return new RegistryClient(ref(repository), CredentialStore.none(), Set.of());
  }

  /** A client reading credentials from an auth.json holding {@code user:password}. */
  RegistryClient client(String repository, Path authFile, String user, String password)
      throws IOException {
    String auth = java.util.Base64.getEncoder().encodeToString((user + ":" + password).getBytes());
    Files.writeString(
        authFile, "{\"auths\":{\"127.0.0.1:" + port + "\":{\"auth\":\"" + auth + "\"}}}");
    return new RegistryClient(
        ref(repository),
        new CredentialStore(Map.of("REGISTRY_AUTH_FILE", authFile.toString()), dir),
        Set.of());
  }

  /** The file in which the registry keeps a blob's bytes. */
  public Path blobData(Digest d) {
    return dir.resolve(
        "data/docker/registry/v2/blobs/sha256/"
            + d.hex().substring(0, 2)
            + "/"
            + d.hex()
            + "/data");
  }

  /**
   * How many requests the access log shows with this method whose path matches {@code pathRegex}.
   */
  public long requests(String method, String pathRegex) throws IOException {
    Pattern p = Pattern.compile("\"" + method + " " + pathRegex + " HTTP/1\\.1\" [0-9]{3}");
    List<String> lines = Files.readAllLines(log);
    return lines.stream().filter(l -> p.matcher(l).find()).count();
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(10, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
  }
}
