package dev.qcow2.tools.canga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.tools.Cli;
import dev.qcow2.tools.oci.Digest;
import dev.qcow2.tools.oci.DockerRegistry;
import dev.qcow2.tools.oci.IndexSignature;
import java.io.RandomAccessFile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code type: remote} repositories whose url is {@code oci://127.0.0.1:PORT/t/NAME}, against
 * Debian's docker-registry on loopback: push, fetch, pull, tag, deltag, del; each test in a
 * repository of its own.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class OciRemoteTest {
  @TempDir static Path serverDir;
  static DockerRegistry registry;

  @TempDir Path dir;
  String repository;

  @BeforeAll
  static void startRegistry() throws Exception {
    registry = DockerRegistry.start(serverDir.resolve("open"));
  }

  @AfterAll
  static void stopRegistry() throws Exception {
    if (registry != null) {
      registry.close();
    }
  }

  @BeforeEach
  void repository(TestInfo info) {
    repository = "t/" + info.getTestMethod().orElseThrow().getName().replace("_", "-");
  }

  static Canga host(Path dir, String name, String url) throws Exception {
    Canga c = new Canga(Files.createDirectories(dir.resolve(name)));
    c.config(
        "    oci:\n        type: remote\n        path: "
            + c.repo("oci")
            + "\n        url: "
            + url
            + "\n");
    return c;
  }

  Canga host(String name) throws Exception {
    return host(dir, name, "oci://127.0.0.1:" + registry.port + "/" + repository);
  }

  static Cli.Result run(Canga c, Map<String, String> env, String... args) {
    return S3Store.canga(env, c.config, args);
  }

  static Cli.Result ok(Canga c, Map<String, String> env, String... args) {
    Cli.Result r = run(c, env, args);
    assertEquals(
        0,
        r.exitCode(),
        "canga " + String.join(" ", args) + "\nstdout: " + r.stdout() + "\nstderr: " + r.stderr());
    return r;
  }

  static Cli.Result ok(Canga c, String... args) {
    return ok(c, Map.of("HOME", c.dir.toString()), args);
  }

  /** Asserts a failure told in one line, matching {@code regex} after "canga: ". */
  static void assertOneLineError(Cli.Result r, String regex) {
    assertEquals(1, r.exitCode(), r.stderr());
    // Progress lines (a pull's "Downloading" and its bar) may come first.
    String err = r.stderr();
    int at = err.lastIndexOf("canga: ");
    assertTrue(at >= 0 && err.substring(at).matches("canga: " + regex + "\n"), err);
  }

  /** The files of the local cache of the remote (lock files aside). */
  static List<String> cached(Canga c) throws Exception {
    if (!Files.isDirectory(c.repo("oci"))) {
      return List.of();
    }
    try (var files = Files.list(c.repo("oci"))) {
      return files
          .map(p -> p.getFileName().toString())
          .filter(n -> !n.startsWith(".") && !n.endsWith(".lock"))
          .sorted()
          .toList();
    }
  }

  @Test
  @Timeout(120)
  void sign_stores_the_index_signature_in_the_registry_and_a_later_change_drops_it()
      throws Exception {
    try (TestKeyring keyring = TestKeyring.create(dir)) {
      Path gnupg = keyring.home;
      Canga a = host("a");
      S3RemoteTest.chain(a);
      ok(a, "push", "child", "oci");
      ok(a, "sign", "oci", "--gpg-homedir", gnupg.toString());
      // Another host's fetch brings the index the registry's tags make and its signature.
      Canga b = host("b");
      ok(b, "fetch", "oci");
      assertTrue(Files.exists(b.repo("oci").resolve("index.yaml.sig")), cached(b).toString());
      Cli.Result good = ok(b, "verify", "oci", "--gpg-homedir", gnupg.toString());
      assertTrue(good.stderr().contains(TestKeyring.GOOD_SIGNATURE), good.stderr());
      // The signature is an artifact of its own, which the index does not list as an image.
      String index = Files.readString(b.repo("oci").resolve("index.yaml"));
      assertFalse(index.contains(IndexSignature.TAG), index);
      assertEquals(2, index.lines().filter(l -> l.startsWith("    sha256: ")).count(), index);

      // A tag changes the index: the old signature, which would no longer verify, is gone.
      ok(a, "tag", "also-base", "oci:base");
      ok(b, "fetch", "oci");
      assertFalse(Files.exists(b.repo("oci").resolve("index.yaml.sig")), cached(b).toString());
      Cli.Result unsigned =
          run(
              b,
              Map.of("HOME", b.dir.toString()),
              "verify",
              "oci",
              "--gpg-homedir",
              gnupg.toString());
      assertEquals(1, unsigned.exitCode(), unsigned.stderr());
    }
  }

  @Test
  @Timeout(120)
  void a_chain_pushed_from_one_repository_is_pulled_into_another() throws Exception {
    Canga a = host("a");
    S3RemoteTest.Chain ch = S3RemoteTest.chain(a);
    Cli.Result push = ok(a, "push", "grand", "oci");
    assertTrue(
        push.stderr()
            .startsWith("Pushing default:base\nPushing default:child\nPushing default:grand\n"),
        push.stderr());

    // The registry's index, read by another host: every image with its parent and tag.
    Canga b = host("b");
    ok(b, "fetch", "oci");
    Map<String, String> parents = Map.of("base", "", "child", ch.baseSha(), "grand", ch.childSha());
    parents.forEach(
        (tag, parent) -> {
          String show = b.ok("show", "oci:" + tag).stdout();
          assertTrue(
              parent.isEmpty() ? !show.contains("parent: ") : show.contains("parent: " + parent),
              show);
        });
    Cli.Result pull = ok(b, "pull", "oci:grand");
    assertTrue(pull.stderr().startsWith("Downloading oci:base\n"), pull.stderr());
    for (int i = 0; i < 3; i++) {
      Path original = List.of(ch.base(), ch.child(), ch.grand()).get(i);
      String sha = List.of(ch.baseSha(), ch.childSha(), ch.grandSha()).get(i);
      b.assertStoredImageSound(b.repo("oci").resolve(sha + ".qcow2"), original);
    }
    assertFalse(b.ok("list", "oci").stdout().contains("*oci:"), "every file is here now");
  }

  @Test
  @Timeout(120)
  void a_repository_nobody_pushed_to_is_an_empty_index() throws Exception {
    Canga b = host("b");
    ok(b, "fetch", "oci");
    assertEquals(List.of("index.yaml"), cached(b));
    assertFalse(b.ok("list", "oci").stdout().contains("oci:"));
  }

  @Test
  @Timeout(120)
  void a_push_over_a_base_already_there_uploads_only_the_delta() throws Exception {
    Canga a = host("a");
    S3RemoteTest.Chain ch = S3RemoteTest.chain(a);
    ok(a, "push", "base");
    String uploads = "/v2/" + repository + "/blobs/uploads/";
    long before = registry.requests("POST", uploads);
    Cli.Result push = ok(a, "push", "child", "oci");
    assertTrue(push.stderr().contains("Image default:base already in oci://"), push.stderr());
    // The child's layer and its config: nothing of the base is sent again.
    assertEquals(2, registry.requests("POST", uploads) - before);
    Canga b = host("b");
    ok(b, "fetch", "oci");
    assertPulledSound(b, "oci:child", ch.childSha(), ch.child());
  }

  @Test
  @Timeout(120)
  void two_hosts_pushing_at_once_lose_nothing() throws Exception {
    Canga a = host("a");
    Canga b = host("b");
    Path imageA = a.image("x.qcow2", "2M", "write -P 0x41 0 1M");
    String shaA = Canga.sha(a.ok("add", imageA.toString(), "--tag", "from-a"));
    Path imageB = b.image("y.qcow2", "2M", "write -P 0x42 0 1M");
    String shaB = Canga.sha(b.ok("add", imageB.toString(), "--tag", "from-b"));
    for (Cli.Result r :
        atOnce(
            List.of(
                () -> run(a, Map.of(), "push", "from-a", "oci"),
                () -> run(b, Map.of(), "push", "from-b", "oci")))) {
      assertEquals(0, r.exitCode(), r.stderr());
    }
    Canga c = host("c");
    ok(c, "fetch", "oci");
    assertPulledSound(c, "oci:from-a", shaA, imageA);
    assertPulledSound(c, "oci:from-b", shaB, imageB);
  }

  /** Runs the tasks on threads of their own, started together. */
  static List<Cli.Result> atOnce(List<Callable<Cli.Result>> tasks) throws Exception {
    CyclicBarrier start = new CyclicBarrier(tasks.size());
    ExecutorService pool = Executors.newFixedThreadPool(tasks.size());
    try {
      List<Future<Cli.Result>> running = new java.util.ArrayList<>();
      for (Callable<Cli.Result> t : tasks) {
        running.add(
            pool.submit(
                () -> {
                  start.await(30, TimeUnit.SECONDS);
                  return t.call();
                }));
      }
      List<Cli.Result> results = new java.util.ArrayList<>();
      for (Future<Cli.Result> f : running) {
        results.add(f.get(60, TimeUnit.SECONDS));
      }
      return results;
    } finally {
      pool.shutdownNow();
    }
  }

  /**
   * Pulls {@code name} into {@code c}: the file of {@code sha} is sound and has the content of
   * {@code original}.
   */
  static void assertPulledSound(Canga c, String name, String sha, Path original) {
    ok(c, "pull", name);
    c.assertStoredImageSound(c.repo("oci").resolve(sha + ".qcow2"), original);
  }

  @Test
  @Timeout(180)
  void a_killed_push_leaves_the_remote_usable_and_the_next_push_completes() throws Exception {
    Canga a = host("a");
    // 64 MiB of random bytes: four upload chunks, so the push is killed between two of them.
    Path raw = a.dir.resolve("big.raw");
    try (RandomAccessFile f = new RandomAccessFile(raw.toFile(), "rw")) {
      byte[] buf = new byte[1 << 20];
      java.util.Random random = new java.util.Random(7);
      for (int i = 0; i < 64; i++) {
        random.nextBytes(buf);
        f.write(buf);
      }
    }
    String sha = Canga.sha(a.ok("add", raw.toString(), "--tag", "big"));
    a.ok("add", a.image("small.qcow2", "1M", "write -P 0x55 0 64k").toString(), "--tag", "small");
    ok(a, "push", "small", "oci");
    String patch = "/v2/" + repository + "/blobs/uploads/[^ ]*";
    long before = registry.requests("PATCH", patch);
    Path log = dir.resolve("child.log");
    Process child = a.start(log, Map.of(), "push", "big", "oci");
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
      while (registry.requests("PATCH", patch) == before
          && System.nanoTime() < deadline
          && child.isAlive()) {
        Thread.sleep(5);
      }
      assertTrue(child.isAlive(), () -> "the push ended before it was killed: " + Canga.text(log));
      child.destroyForcibly(); // SIGKILL: no hook runs
      assertTrue(child.waitFor(30, TimeUnit.SECONDS));
    } finally {
      child.destroyForcibly();
    }
    Canga b = host("b");
    ok(b, "fetch", "oci");
    String list = b.ok("list", "oci").stdout();
    assertTrue(list.contains("oci:small "), list);
    assertFalse(list.contains("oci:big "), list);

    ok(a, "push", "big", "oci");
    ok(b, "fetch", "oci");
    assertPulledSound(b, "oci:big", sha, raw);
  }

  @Test
  @Timeout(120)
  void
      a_missing_repository_a_missing_parent_and_a_corrupt_blob_are_one_line_errors_that_write_nothing()
          throws Exception {
    Canga a = host("a");
    S3RemoteTest.Chain ch = S3RemoteTest.chain(a);
    ok(a, "push", "child", "oci");
    Canga b = host("b");
    ok(b, "fetch", "oci");

    // The index names images the registry no longer has: its repository is another one now.
    Canga moved = host(dir, "moved", "oci://127.0.0.1:" + registry.port + "/t/nobody-pushed-here");
    Files.createDirectories(moved.repo("oci"));
    Files.copy(b.repo("oci").resolve("index.yaml"), moved.repo("oci").resolve("index.yaml"));
    assertOneLineError(
        run(moved, Map.of(), "pull", "oci:base"),
        "oci://127.0.0.1:[0-9]+/t/nobody-pushed-here: "
            + "manifest "
            + ch.baseSha()
            + " not found \\(HTTP 404[^\n]*");
    assertEquals(List.of("index.yaml"), cached(moved));

    // The child's manifest points at a parent whose layer is gone.
    Digest baseLayer = Digest.ofFile(a.defaultRepo().resolve(ch.baseSha() + ".qcow2"));
    HttpResponse<Void> deleted =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(
                        URI.create(
                            "http://127.0.0.1:"
                                + registry.port
                                + "/v2/"
                                + repository
                                + "/blobs/"
                                + baseLayer))
                    .DELETE()
                    .build(),
                HttpResponse.BodyHandlers.discarding());
    assertEquals(202, deleted.statusCode());
    Canga c = host("c");
    ok(c, "fetch", "oci");
    Path fakeBase = c.repo("oci").resolve(ch.baseSha() + ".qcow2");
    Files.copy(ch.base(), fakeBase); // the parent is here, so the pull goes for the child
    assertOneLineError(
        run(c, Map.of(), "pull", "oci:child"),
        "[^\n]*manifest "
            + ch.childSha()
            + ": its parent "
            + ch.baseSha()
            + " \\(layer "
            + baseLayer
            + "\\) is missing from the registry");
    assertEquals(List.of(ch.baseSha() + ".qcow2", "index.yaml"), cached(c));
  }

  @Test
  @Timeout(120)
  void a_blob_whose_digest_does_not_match_writes_nothing() throws Exception {
    Canga a = host("a");
    // Content of its own: the registry keeps one copy of a blob for all its repositories.
    String sha =
        Canga.sha(
            a.ok(
                "add",
                a.image("own.qcow2", "2M", "write -P 0x77 0 1M").toString(),
                "--tag",
                "base"));
    ok(a, "push", "base", "oci");
    Digest layer = Digest.ofFile(a.defaultRepo().resolve(sha + ".qcow2"));
    try (RandomAccessFile f = new RandomAccessFile(registry.blobData(layer).toFile(), "rw")) {
      f.seek(f.length() / 2);
      int b = f.read();
      f.seek(f.length() / 2);
      f.write(b ^ 0xff);
    }
    Canga b = host("b");
    ok(b, "fetch", "oci");
    assertOneLineError(
        run(b, Map.of(), "pull", "oci:base"),
        "oci://127.0.0.1:[0-9]+/"
            + repository
            + ": blob "
            + layer
            + " was served with bytes whose digest is sha256:[0-9a-f]{64}; nothing kept");
    assertEquals(List.of("index.yaml"), cached(b));
  }

  @Test
  @Timeout(120)
  void tags_move_and_go_and_an_image_with_children_is_not_deleted() throws Exception {
    Canga a = host("a");
    S3RemoteTest.Chain ch = S3RemoteTest.chain(a);
    ok(a, "push", "grand", "oci");
    ok(a, "tag", "release", "oci:child");
    ok(a, "tag", "base+1", "oci:child");
    Canga b = host("b");
    ok(b, "fetch", "oci");
    for (String name : List.of("oci:release", "oci:base+1", "oci:child")) {
      assertTrue(b.ok("show", name).stdout().contains("sha256: " + ch.childSha()), name);
    }
    ok(a, "deltag", "oci:base+1");
    ok(a, "deltag", "oci:release");
    ok(b, "fetch", "oci");
    assertTrue(b.run("show", "oci:release").exitCode() != 0);
    assertTrue(b.run("show", "oci:base+1").exitCode() != 0);
    assertTrue(b.ok("show", "oci:child").stdout().contains("sha256: " + ch.childSha()));
    assertTrue(b.ok("show", "oci:grand").stdout().contains("sha256: " + ch.grandSha()));

    Cli.Result refused = run(a, Map.of(), "del", "oci:child");
    assertTrue(
        refused.exitCode() != 0 && refused.stderr().contains("is the parent of"), refused.stderr());
    ok(a, "del", "oci:grand");
    ok(b, "fetch", "oci");
    assertTrue(b.run("show", "oci:grand").exitCode() != 0);
    assertTrue(b.ok("show", "oci:child").stdout().contains("sha256: " + ch.childSha()));
  }
}
