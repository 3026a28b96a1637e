package dev.qcow2.tools.oci;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What distribution 2.8 with htpasswd cannot show, against a scripted registry on loopback: a
 * Bearer token service (tokens per scope, reused), tag pages joined by {@code Link} headers,
 * retries on 5xx, and 403.
 */
@Timeout(60)
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class FakeRegistryTest {
  @TempDir Path dir;
  HttpServer server;
  int port;
  final AtomicInteger tokenCalls = new AtomicInteger();
  final Map<String, AtomicInteger> hits = new ConcurrentHashMap<>();
  final CountDownLatch release = new CountDownLatch(1);
  final List<String> storageAuthorization = new CopyOnWriteArrayList<>();

  @BeforeEach
  void start() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/token", this::token);
    server.createContext("/v2/", this::registry);
    server.createContext("/storage/", this::storage);
    server.start();
    port = server.getAddress().getPort();
  }

  @AfterEach
  void stop() {
    release.countDown();
    server.stop(0);
  }

  /** Gives "T-<scope>" to user "alice" with password "secret". */
  private void token(HttpExchange ex) throws IOException {
    tokenCalls.incrementAndGet();
    String auth = ex.getRequestHeaders().getFirst("Authorization");
    String good = "Basic " + Base64.getEncoder().encodeToString("alice:secret".getBytes());
    if (!good.equals(auth)) {
      send(ex, 401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"bad\"}]}", Map.of());
      return;
    }
    String scope = ex.getRequestURI().getRawQuery().replaceAll(".*scope=([^&]*).*", "$1");
    send(ex, 200, "{\"token\":\"T-" + scope + "\",\"expires_in\":300}", Map.of());
  }

  private void registry(HttpExchange ex) throws IOException {
    String path = ex.getRequestURI().getPath();
    String query = ex.getRequestURI().getQuery();
    hits.computeIfAbsent(path, k -> new AtomicInteger()).incrementAndGet();
    if (path.startsWith("/v2/ns/auth/")) {
      boolean push = !ex.getRequestMethod().equals("GET") && !ex.getRequestMethod().equals("HEAD");
      String scope = "repository:ns/auth:" + (push ? "pull,push" : "pull");
      String want = "Bearer T-" + scope.replace(":", "%3A").replace("/", "%2F").replace(",", "%2C");
      if (!want.equals(ex.getRequestHeaders().getFirst("Authorization"))) {
        send(
            ex,
            401,
            "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"token needed\"}]}",
            Map.of(
                "WWW-Authenticate",
                "Bearer realm=\"http://127.0.0.1:"
                    + port
                    + "/token\",service=\"fake\",scope=\""
                    + scope
                    + "\""));
        return;
      }
      if (push) {
        send(ex, 201, "", Map.of());
        return;
      }
      if (path.contains("/blobs/")) {
        send(
            ex,
            307,
            "",
            Map.of("Location", "http://localhost:" + port + "/storage/blob?signature=x"));
        return;
      }
      send(ex, 200, "{\"tags\":[\"x\"]}", Map.of());
    } else if (path.equals("/v2/ns/paged/tags/list")) {
      List<String> all = List.of("a", "b", "c", "d", "e");
      int from =
          query != null && query.contains("last=")
              ? all.indexOf(query.replaceAll(".*last=([^&]*).*", "$1")) + 1
              : 0;
      int to = Math.min(all.size(), from + 2);
      String tags = String.join("\",\"", all.subList(from, to));
      Map<String, String> headers =
          to < all.size()
              ? Map.of(
                  "Link", "</v2/ns/paged/tags/list?n=2&last=" + all.get(to - 1) + ">; rel=\"next\"")
              : Map.of();
      send(ex, 200, "{\"name\":\"ns/paged\",\"tags\":[\"" + tags + "\"]}", headers);
    } else if (path.startsWith("/v2/ns/slow/blobs/")) {
      // Headers and ten bytes, then nothing until the test ends.
      ex.sendResponseHeaders(200, 1000);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(new byte[10]);
        out.flush();
        release.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException | IOException e) {
        // the client went away
      }
    } else if (path.equals("/v2/ns/flaky/tags/list")) {
      int n = hits.get(path).get();
      send(ex, n <= 2 ? 503 : 200, n <= 2 ? "" : "{\"tags\":[\"ok\"]}", Map.of());
    } else if (path.equals("/v2/ns/down/tags/list")) {
      send(ex, 500, "", Map.of());
    } else if (path.equals("/v2/ns/denied/tags/list")) {
      send(
          ex,
          403,
          "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"requested access to the resource is denied\"}]}",
          Map.of());
    } else {
      send(ex, 404, "", Map.of());
    }
  }

  private void storage(HttpExchange ex) throws IOException {
    storageAuthorization.add(String.valueOf(ex.getRequestHeaders().getFirst("Authorization")));
    send(ex, 200, "hello", Map.of());
  }

  private static void send(HttpExchange ex, int status, String body, Map<String, String> headers)
      throws IOException {
    headers.forEach((k, v) -> ex.getResponseHeaders().add(k, v));
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    ex.sendResponseHeaders(status, b.length == 0 ? -1 : b.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(b);
    }
  }

  private RegistryClient client(String repo, String user, String password) throws IOException {
    return client(repo, user, password, Duration.ofSeconds(10));
  }

  private RegistryClient client(String repo, String user, String password, Duration timeout)
      throws IOException {
    Path auth = dir.resolve("auth-" + repo.replace('/', '_') + ".json");
    String enc = Base64.getEncoder().encodeToString((user + ":" + password).getBytes());
    Files.writeString(auth, "{\"auths\":{\"127.0.0.1:" + port + "\":{\"auth\":\"" + enc + "\"}}}");
    return new RegistryClient(
        OciReference.parse("oci://127.0.0.1:" + port + "/" + repo),
        new CredentialStore(Map.of("REGISTRY_AUTH_FILE", auth.toString()), dir),
        Set.of(),
        timeout,
        1 << 20,
        2);
  }

  @Test
  void a_bearer_token_is_fetched_once_per_scope_with_the_credentials() throws Exception {
    RegistryClient c = client("ns/auth", "alice", "secret");
    assertEquals(List.of("x"), c.tags());
    assertEquals(List.of("x"), c.tags());
    assertEquals(1, tokenCalls.get(), "the pull token is reused");
    c.putManifest("t", "{}".getBytes(), ImageManifest.MEDIA_TYPE);
    c.putManifest("t", "{}".getBytes(), ImageManifest.MEDIA_TYPE);
    assertEquals(2, tokenCalls.get(), "one more token, for pull,push");
    assertEquals(2, c.tokenRequests());
  }

  @Test
  void a_token_service_refusing_the_credentials_is_one_line_unauthorized() throws Exception {
    RegistryClient c = client("ns/auth", "alice", "wrong");
    OciException e = assertThrows(OciException.class, c::tags);
    assertEquals(OciException.Kind.UNAUTHORIZED, e.kind());
    assertEquals(
        "oci://127.0.0.1:"
            + port
            + "/ns/auth: the token service 127.0.0.1 refused the credentials of 'alice' (HTTP 401)",
        e.getMessage());
  }

  @Test
  void tag_pages_are_followed_through_their_link_headers() throws Exception {
    assertEquals(List.of("a", "b", "c", "d", "e"), client("ns/paged", "u", "p").tags());
    assertEquals(3, hits.get("/v2/ns/paged/tags/list").get());
  }

  @Test
  void a_5xx_answer_is_retried_and_a_lasting_one_is_one_line_unavailable() throws Exception {
    assertEquals(List.of("ok"), client("ns/flaky", "u", "p").tags());
    assertEquals(3, hits.get("/v2/ns/flaky/tags/list").get());
    OciException e = assertThrows(OciException.class, () -> client("ns/down", "u", "p").tags());
    assertEquals(OciException.Kind.UNAVAILABLE, e.kind());
    assertEquals("oci://127.0.0.1:" + port + "/ns/down: tag list: HTTP 500", e.getMessage());
    assertEquals(4, hits.get("/v2/ns/down/tags/list").get(), "bounded attempts");
  }

  @Test
  void a_403_is_one_line_denied() throws Exception {
    OciException e = assertThrows(OciException.class, () -> client("ns/denied", "u", "p").tags());
    assertEquals(OciException.Kind.DENIED, e.kind());
    assertTrue(
        e.getMessage()
            .endsWith(
                "access to tag list denied (HTTP 403, DENIED: requested access to the resource is denied)"),
        e.getMessage());
  }

  @Test
  void a_blob_redirect_is_followed_without_our_token() throws Exception {
    RegistryClient c = client("ns/auth", "alice", "secret");
    assertArrayEquals(
        "hello".getBytes(),
        c.fetchBlob(Descriptor.of("application/octet-stream", "hello".getBytes())));
    assertEquals(
        List.of("null"), storageAuthorization, "the storage host gets no Authorization header");
  }

  @Test
  void a_download_that_stops_flowing_is_abandoned_and_nothing_is_kept() throws Exception {
    Descriptor blob = new Descriptor("application/octet-stream", Digest.of(new byte[1000]), 1000);
    Path target = dir.resolve("slow.bin");
    OciException e =
        assertThrows(
            OciException.class,
            () -> client("ns/slow", "u", "p", Duration.ofSeconds(1)).pullBlob(blob, target, null));
    assertEquals(OciException.Kind.UNAVAILABLE, e.kind());
    assertTrue(
        e.getMessage().endsWith("stopped arriving after 10 bytes (no data for 1 s); nothing kept"),
        e.getMessage());
    assertFalse(Files.exists(target));
    assertFalse(Files.exists(dir.resolve("slow.bin.part")));
  }
}
