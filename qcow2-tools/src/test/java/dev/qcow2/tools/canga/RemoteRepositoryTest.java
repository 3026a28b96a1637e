package dev.qcow2.tools.canga;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import dev.qcow2.tools.repo.RepositoryIndex;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A published repository served by a local HTTP server on 127.0.0.1 (range requests supported),
 * used as a {@code type: remote} repository: fetch, pull with verification and resume, import.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class RemoteRepositoryTest {
  @TempDir Path dir;
  Canga canga;
  HttpServer server;

  /** Requests seen: "GET /repo/x Range: bytes=..". */
  final List<String> requests = new CopyOnWriteArrayList<>();

  /** File name → bytes served instead of the file's own. */
  final Map<String, byte[]> replaced = new ConcurrentHashMap<>();

  /** File names whose next response stops half way. */
  final Map<String, Boolean> cutOnce = new ConcurrentHashMap<>();

  String baseSha;
  String childSha;
  Path base;
  Path child;

  @BeforeEach
  void setUp() throws Exception {
    canga = new Canga(dir);
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/repo/", this::serve);
    server.start();
    String url =
        "http://127.0.0.1:" + server.getAddress().getPort() + "/repo"; // no final slash on purpose
    canga.config(
        "    pub:\n        type: local\n        path: "
            + canga.repo("pub")
            + "\n"
            + "    remote:\n        type: remote\n        path: "
            + canga.repo("remote")
            + "\n        url: "
            + url
            + "\n");
    base = canga.image("base.qcow2", "4M", "write -P 0x11 0 2M");
    baseSha = Canga.sha(canga.ok("add", base.toString(), "pub", "--tag", "base"));
    child = dir.resolve("child.qcow2");
    Files.copy(base, child);
    Qemu.io(dir, child.toString(), "write -P 0x22 1M 128k");
    childSha =
        Canga.sha(
            canga.ok("add", child.toString(), "pub", "--parent", "pub:base", "--tag", "child"));
  }

  @AfterEach
  void tearDown() {
    server.stop(0);
  }

  private void serve(HttpExchange ex) throws IOException {
    String name = ex.getRequestURI().getPath().substring("/repo/".length());
    String range = ex.getRequestHeaders().getFirst("Range");
    requests.add("GET /repo/" + name + (range == null ? "" : " Range: " + range));
    Path file = canga.repo("pub").resolve(name);
    byte[] data =
        replaced.containsKey(name)
            ? replaced.get(name)
            : Files.exists(file) ? Files.readAllBytes(file) : null;
    if (data == null) {
      ex.sendResponseHeaders(404, -1);
      ex.close();
      return;
    }
    int from = 0;
    if (range != null && range.startsWith("bytes=") && range.endsWith("-")) {
      from = Integer.parseInt(range.substring(6, range.length() - 1));
      if (from >= data.length) {
        ex.sendResponseHeaders(416, -1);
        ex.close();
        return;
      }
      ex.getResponseHeaders()
          .add("Content-Range", "bytes " + from + "-" + (data.length - 1) + "/" + data.length);
      ex.sendResponseHeaders(206, data.length - from);
    } else {
      ex.sendResponseHeaders(200, data.length);
    }
    OutputStream out = ex.getResponseBody();
    if (cutOnce.remove(name) != null) {
      out.write(data, from, (data.length - from) / 2);
      out.flush();
      ex.getHttpContext().getServer(); // the half written, then the connection dropped
      ex.close();
      return;
    }
    out.write(data, from, data.length - from);
    out.close();
  }

  @Test
  void should_fetch_the_index_and_pull_the_chain_root_first() throws Exception {
    canga.ok("fetch", "remote");
    assertEquals(
        Files.readString(canga.repo("pub").resolve("index.yaml")),
        Files.readString(canga.repo("remote").resolve("index.yaml")));
    String list = canga.ok("list", "remote").stdout();
    assertTrue(list.contains(" *remote:base "), list);
    assertTrue(list.contains("^*remote:child "), list);

    Cli.Result pull = canga.ok("pull", "remote:child");
    assertTrue(pull.stderr().startsWith("Downloading remote:base\n"), pull.stderr());
    assertTrue(pull.stderr().contains("Downloading remote:child\n"), pull.stderr());
    assertFalse(pull.stderr().contains("/100%)"), "no progress bar in a pipe: " + pull.stderr());
    assertTrue(
        requests.indexOf("GET /repo/" + baseSha + ".qcow2")
            < requests.indexOf("GET /repo/" + childSha + ".qcow2"));
    Path pulled = canga.repo("remote").resolve(childSha + ".qcow2");
    canga.assertStoredImageSound(pulled, child);
    assertFalse(canga.ok("list", "remote").stdout().contains("*"));
    assertEquals(
        "Image remote:base already downloaded\nImage remote:child already downloaded\n",
        canga.ok("pull", "remote:child").stderr());

    // Then imported into the local default repository, ancestors included.
    canga.ok("import", "remote:child", "--tag", "mine");
    canga.assertStoredImageSound(canga.defaultRepo().resolve(childSha + ".qcow2"), child);
    assertEquals(
        childSha,
        RepositoryIndex.read(canga.defaultRepo().resolve("index.yaml")).tags().get("mine"));
  }

  @Test
  void should_resume_an_interrupted_download_with_a_range_request() throws Exception {
    canga.ok("fetch", "remote");
    cutOnce.put(baseSha + ".qcow2", true);
    Cli.Result first = canga.run("pull", "remote:base");
    assertEquals(1, first.exitCode(), first.stderr());
    Path part = canga.repo("remote").resolve(baseSha + ".qcow2.part");
    long have = Files.size(part);
    assertTrue(have > 0);
    assertFalse(Files.exists(canga.repo("remote").resolve(baseSha + ".qcow2")));

    canga.ok("pull", "remote:base");
    assertEquals(
        "GET /repo/" + baseSha + ".qcow2 Range: bytes=" + have + "-",
        requests.get(requests.size() - 1));
    assertArrayEquals(
        Files.readAllBytes(canga.repo("pub").resolve(baseSha + ".qcow2")),
        Files.readAllBytes(canga.repo("remote").resolve(baseSha + ".qcow2")));
    assertFalse(Files.exists(part));
  }

  @Test
  void should_reject_a_corrupt_download_and_never_replace_a_good_file() throws Exception {
    canga.ok("fetch", "remote");
    canga.ok("pull", "remote:base");
    Path goodBase = canga.repo("remote").resolve(baseSha + ".qcow2");
    byte[] good = Files.readAllBytes(goodBase);
    // The child's name now serves the parent's file: a valid image with the wrong content.
    replaced.put(
        childSha + ".qcow2", Files.readAllBytes(canga.repo("pub").resolve(baseSha + ".qcow2")));
    Cli.Result r = canga.run("pull", "remote:child");
    assertEquals(255, r.exitCode());
    assertTrue(
        r.stderr()
            .contains(
                "Downloaded file of " + childSha + " is corrupt: its content sha256 is " + baseSha),
        r.stderr());
    assertFalse(Files.exists(canga.repo("remote").resolve(childSha + ".qcow2")));
    assertFalse(Files.exists(canga.repo("remote").resolve(childSha + ".qcow2.part")));
    assertArrayEquals(good, Files.readAllBytes(goodBase));

    // Garbage bytes are refused as well, and a later good download succeeds.
    replaced.put(childSha + ".qcow2", "<html>not found</html>".getBytes());
    assertEquals(255, canga.run("pull", "remote:child").exitCode());
    assertFalse(Files.exists(canga.repo("remote").resolve(childSha + ".qcow2")));
    replaced.clear();
    canga.ok("pull", "remote:child");
    canga.assertStoredImageSound(canga.repo("remote").resolve(childSha + ".qcow2"), child);
  }

  @Test
  void should_fail_on_http_errors_and_do_nothing_for_local_repositories() throws Exception {
    canga.ok("fetch", "remote");
    Files.move(canga.repo("pub").resolve(baseSha + ".qcow2"), dir.resolve("moved.qcow2"));
    Cli.Result r = canga.run("pull", "remote:base");
    assertEquals(1, r.exitCode());
    assertTrue(r.stderr().endsWith(": HTTP 404\n"), r.stderr());
    assertFalse(Files.exists(canga.repo("remote").resolve(baseSha + ".qcow2")));
    int before = requests.size();
    canga.ok("fetch"); // the default repository is local: nothing to fetch
    assertEquals(before, requests.size());
  }

  @Test
  void should_keep_images_built_on_the_cache_when_fetching_again() throws Exception {
    canga.ok("fetch", "remote");
    canga.ok("pull", "remote:base");
    Path local = dir.resolve("local.qcow2");
    Files.copy(base, local);
    Qemu.io(dir, local.toString(), "write -P 0x77 0 64k");
    String localSha =
        Canga.sha(
            canga.ok(
                "add", local.toString(), "remote", "--parent", "remote:base", "--tag", "mine"));
    canga.ok("fetch", "remote");
    RepositoryIndex cache = RepositoryIndex.read(canga.repo("remote").resolve("index.yaml"));
    assertTrue(cache.images().containsKey(localSha));
    assertEquals(localSha, cache.tags().get("mine"));
    assertEquals(3, cache.images().size());
  }

  @Test
  void instanceOfARemoteOnlyImagePullsItsChainFirst() throws Exception {
    canga.ok("fetch", "remote");
    assertEquals("web\n", canga.ok("instance", "create", "remote:child", "--name", "web").stdout());
    assertTrue(
        Files.exists(canga.repo("remote").resolve(baseSha + ".qcow2")), "the parent was pulled");
    assertTrue(
        Files.exists(canga.repo("remote").resolve(childSha + ".qcow2")), "the image was pulled");
    Path instance = Path.of(canga.ok("instance", "path", "web").stdout().trim());
    assertEquals(canga.repo("remote").resolve("instances/web.qcow2"), instance);
    Qemu.Result same =
        Qemu.exec(
            dir, java.util.List.of("qemu-img", "compare", instance.toString(), child.toString()));
    assertEquals(0, same.exitCode(), same.stdout() + same.stderr());
    Qemu.io(instance.getParent(), "web.qcow2", "write -P 0x33 0 64k");
    assertEquals(
        0, Qemu.exec(dir, java.util.List.of("qemu-img", "check", instance.toString())).exitCode());
    com.fasterxml.jackson.databind.JsonNode list =
        new com.fasterxml.jackson.databind.ObjectMapper()
            .readTree(canga.ok("instances", "--output=json").stdout());
    assertEquals("web", list.get(0).get("name").asText());
    assertEquals(childSha, list.get(0).get("image").asText());
    canga.ok("instance", "rm", "web");
    assertTrue(!Files.exists(instance));
    assertEquals(255, canga.run("instance", "path", "web").exitCode());
  }

  @Test
  void storeImagesAndWipe() throws Exception {
    canga.ok("instance", "create", "pub:base");
    String store = canga.ok("store").stdout();
    assertTrue(store.startsWith("config: " + canga.config + "\n"), store);
    assertTrue(
        store.contains("pub: local " + canga.repo("pub") + ", 2 images, 0 layers, 1 instances, "),
        store);
    com.fasterxml.jackson.databind.JsonNode images =
        new com.fasterxml.jackson.databind.ObjectMapper()
            .readTree(canga.ok("images", "--output=json").stdout());
    assertEquals(2, images.size());
    String dry = canga.ok("wipe", "pub").stdout();
    assertTrue(dry.startsWith("Would remove from pub ("), dry);
    assertTrue(
        Files.exists(canga.repo("pub").resolve(baseSha + ".qcow2")),
        "nothing removed without --yes");
    assertEquals("Removed 3 files from pub\n", canga.ok("wipe", "pub", "--yes").stdout());
    assertTrue(!Files.exists(canga.repo("pub").resolve(baseSha + ".qcow2")));
    assertTrue(!Files.exists(canga.repo("pub").resolve("instances/base-1.qcow2")));
    assertEquals(
        0,
        dev.qcow2.tools.repo.RepositoryIndex.read(canga.repo("pub").resolve("index.yaml"))
            .images()
            .size());
  }
}
