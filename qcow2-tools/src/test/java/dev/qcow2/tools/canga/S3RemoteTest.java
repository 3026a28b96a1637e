package dev.qcow2.tools.canga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import dev.qcow2.tools.repo.RepositoryIndex;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code type: remote} repositories whose url is {@code s3://BUCKET/PREFIX}, against s3proxy on
 * loopback: push, fetch, pull, list, show, del, tag and deltag; each test in a prefix of its own.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class S3RemoteTest {
  @TempDir static Path serverDir;
  static S3Store store;

  @TempDir Path dir;
  String prefix;
  TestKeyring keyring;

  @BeforeAll
  static void startStore() throws Exception {
    store = S3Store.start(serverDir);
  }

  @AfterAll
  static void stopStore() throws Exception {
    if (store != null) {
      store.close();
    }
  }

  /** A canga home in {@code dir/name} whose remote {@code s3} is this test's prefix. */
  Canga host(String name, String url) throws Exception {
    Canga c = new Canga(Files.createDirectories(dir.resolve(name)));
    c.config(
        "    s3:\n        type: remote\n        path: "
            + c.repo("s3")
            + "\n        url: "
            + url
            + "\n");
    return c;
  }

  Canga host(String name) throws Exception {
    return host(name, "s3://" + S3Store.BUCKET + "/" + prefix);
  }

  @BeforeEach
  void prefix(TestInfo info) {
    prefix = "t/" + info.getTestMethod().orElseThrow().getName();
  }

  static Cli.Result s3(Canga c, Map<String, String> env, String... args) {
    return S3Store.canga(env, c.config, args);
  }

  static Cli.Result s3ok(Canga c, String... args) {
    Cli.Result r = s3(c, store.env(), args);
    assertEquals(
        0,
        r.exitCode(),
        "canga " + String.join(" ", args) + "\nstdout: " + r.stdout() + "\nstderr: " + r.stderr());
    return r;
  }

  /** base, child over base, grand over child, in the default repository of {@code c}, tagged so. */
  record Chain(
      Path base, Path child, Path grand, String baseSha, String childSha, String grandSha) {}

  static Chain chain(Canga c) throws Exception {
    Path base = c.image("base.qcow2", "4M", "write -P 0x11 0 2M");
    String baseSha = Canga.sha(c.ok("add", base.toString(), "--tag", "base"));
    Path child = c.dir.resolve("child.qcow2");
    Files.copy(base, child);
    Qemu.io(c.dir, child.toString(), "write -P 0x22 1M 128k");
    String childSha =
        Canga.sha(c.ok("add", child.toString(), "--parent", "base", "--tag", "child"));
    Path grand = c.dir.resolve("grand.qcow2");
    Files.copy(child, grand);
    Qemu.io(c.dir, grand.toString(), "write -P 0x33 3M 64k");
    String grandSha =
        Canga.sha(c.ok("add", grand.toString(), "--parent", "child", "--tag", "grand"));
    return new Chain(base, child, grand, baseSha, childSha, grandSha);
  }

  RepositoryIndex remoteIndex() throws Exception {
    byte[] bytes =
        store
            .client()
            .getObjectAsBytes(b -> b.bucket(S3Store.BUCKET).key(prefix + "/index.yaml"))
            .asByteArray();
    return RepositoryIndex.parse(new String(bytes, StandardCharsets.UTF_8));
  }

  @Test
  @Timeout(120)
  void a_chain_pushed_from_one_repository_is_pulled_into_another() throws Exception {
    Canga a = host("a");
    Chain ch = chain(a);
    Cli.Result push = s3ok(a, "push", "grand", "s3");
    assertTrue(
        push.stderr()
            .startsWith("Pushing default:base\nPushing default:child\nPushing default:grand\n"),
        push.stderr());
    assertEquals(
        List.of(ch.baseSha() + ".qcow2", ch.childSha() + ".qcow2", ch.grandSha() + ".qcow2"),
        store.storedImages(prefix + "/"));
    // index.yaml alone is a Cangallo index: what a client of the bucket over HTTP reads.
    RepositoryIndex published = remoteIndex();
    assertEquals(Set.of(ch.baseSha(), ch.childSha(), ch.grandSha()), published.images().keySet());
    assertEquals(
        Map.of("base", ch.baseSha(), "child", ch.childSha(), "grand", ch.grandSha()),
        published.tags());
    assertEquals(ch.childSha(), published.image(ch.grandSha()).parent());

    Canga b = host("b");
    s3ok(b, "fetch", "s3");
    String list = b.ok("list", "s3").stdout();
    assertTrue(list.contains(" *s3:base "), list);
    assertTrue(list.contains("^*s3:grand "), list);
    assertTrue(b.ok("show", "s3:grand").stdout().contains("sha256: " + ch.grandSha()), "show");
    Cli.Result pull = s3ok(b, "pull", "s3:grand");
    assertTrue(pull.stderr().startsWith("Downloading s3:base\n"), pull.stderr());
    b.assertStoredImageSound(b.repo("s3").resolve(ch.baseSha() + ".qcow2"), ch.base());
    b.assertStoredImageSound(b.repo("s3").resolve(ch.childSha() + ".qcow2"), ch.child());
    b.assertStoredImageSound(b.repo("s3").resolve(ch.grandSha() + ".qcow2"), ch.grand());
    assertFalse(b.ok("list", "s3").stdout().contains("*s3:"), "every file is here now");
  }

  @Test
  @Timeout(120)
  void a_push_over_a_base_already_there_uploads_only_the_delta() throws Exception {
    Canga a = host("a");
    Chain ch = chain(a);
    s3ok(a, "push", "base"); // the only remote of the configuration
    assertEquals(List.of(ch.baseSha() + ".qcow2"), store.storedImages(prefix + "/"));
    Cli.Result push = s3ok(a, "push", "child", "s3");
    assertTrue(push.stderr().contains("Image default:base already in s3://"), push.stderr());
    assertEquals(
        List.of(ch.baseSha() + ".qcow2", ch.childSha() + ".qcow2"),
        store.storedImages(prefix + "/"));
    assertEquals(Set.of(ch.baseSha(), ch.childSha()), remoteIndex().images().keySet());
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
    CyclicBarrier start = new CyclicBarrier(2);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      Future<Cli.Result> pushA =
          pool.submit(
              () -> {
                start.await(30, TimeUnit.SECONDS);
                return s3(a, store.env(), "push", "from-a", "s3");
              });
      Future<Cli.Result> pushB =
          pool.submit(
              () -> {
                start.await(30, TimeUnit.SECONDS);
                return s3(b, store.env(), "push", "from-b", "s3");
              });
      assertEquals(0, pushA.get(60, TimeUnit.SECONDS).exitCode(), pushA.get().stderr());
      assertEquals(0, pushB.get(60, TimeUnit.SECONDS).exitCode(), pushB.get().stderr());
    } finally {
      pool.shutdownNow();
    }
    Canga c = host("c");
    s3ok(c, "fetch", "s3");
    String list = c.ok("list", "s3").stdout();
    assertTrue(list.contains("s3:from-a "), list);
    assertTrue(list.contains("s3:from-b "), list);
    // Each push read index.yaml back until it named both.
    assertEquals(Set.of(shaA, shaB), remoteIndex().images().keySet());
    s3ok(c, "pull", "s3:from-a");
    s3ok(c, "pull", "s3:from-b");
    c.assertStoredImageSound(c.repo("s3").resolve(shaA + ".qcow2"), imageA);
    c.assertStoredImageSound(c.repo("s3").resolve(shaB + ".qcow2"), imageB);
  }

  @Test
  @Timeout(180)
  void two_processes_pushing_at_once_lose_nothing() throws Exception {
    Canga a = host("a");
    Canga b = host("b");
    String shaA =
        Canga.sha(
            a.ok("add", a.image("x.qcow2", "2M", "write -P 0x61 0 1M").toString(), "--tag", "pa"));
    String shaB =
        Canga.sha(
            b.ok("add", b.image("y.qcow2", "2M", "write -P 0x62 0 1M").toString(), "--tag", "pb"));
    Process pushA = a.start(dir.resolve("a.log"), store.env(), "push", "pa", "s3");
    Process pushB = b.start(dir.resolve("b.log"), store.env(), "push", "pb", "s3");
    try {
      assertTrue(
          pushA.waitFor(120, TimeUnit.SECONDS) && pushB.waitFor(120, TimeUnit.SECONDS),
          "the pushes did not end");
      assertEquals(0, pushA.exitValue(), Files.readString(dir.resolve("a.log")));
      assertEquals(0, pushB.exitValue(), Files.readString(dir.resolve("b.log")));
    } finally {
      pushA.destroyForcibly();
      pushB.destroyForcibly();
    }
    Canga c = host("c");
    s3ok(c, "fetch", "s3");
    assertEquals(
        Set.of(shaA, shaB),
        RepositoryIndex.read(c.repo("s3").resolve("index.yaml")).images().keySet());
    assertEquals(Set.of(shaA, shaB), remoteIndex().images().keySet());
  }

  @Test
  @Timeout(120)
  void del_tag_and_deltag_change_the_remote() throws Exception {
    Canga a = host("a");
    Chain ch = chain(a);
    s3ok(a, "push", "grand", "s3");

    Cli.Result parent = s3(a, store.env(), "del", "--force", "s3:base");
    assertEquals(255, parent.exitCode(), parent.stderr());
    assertTrue(
        parent
            .stderr()
            .matches(
                "Image "
                    + ch.baseSha()
                    + " is the parent of "
                    + ch.childSha()
                    + " in s3://canga/"
                    + prefix
                    + "/; delete them first\n"),
        parent.stderr());
    assertTrue(store.keys(prefix + "/").contains(prefix + "/" + ch.baseSha() + ".qcow2"));

    s3ok(a, "tag", "latest", "s3:child");
    assertEquals(ch.childSha(), remoteIndex().tags().get("latest"));
    s3ok(a, "deltag", "s3:latest");
    assertFalse(remoteIndex().tags().containsKey("latest"));

    s3ok(a, "del", "s3:grand");
    assertFalse(remoteIndex().images().containsKey(ch.grandSha()));
    assertFalse(remoteIndex().tags().containsKey("grand"));
    assertFalse(
        store.keys(prefix + "/").stream().anyMatch(k -> k.contains(ch.grandSha())),
        store.keys(prefix + "/").toString());
    Canga b = host("b");
    s3ok(b, "fetch", "s3");
    String list = b.ok("list", "s3").stdout();
    assertFalse(list.contains("s3:grand"), list);
    assertTrue(list.contains("s3:child"), list);
  }

  @Test
  @Timeout(180)
  void a_push_killed_mid_upload_leaves_the_remote_usable_and_the_next_push_completes()
      throws Exception {
    Canga a = host("a");
    // Random bytes do not compress: a file of more than one part (8 MiB), so a multipart upload.
    Path raw = dir.resolve("big.raw");
    byte[] data = new byte[12 << 20];
    new java.util.Random(15).nextBytes(data);
    Files.write(raw, data);
    String sha = Canga.sha(a.ok("add", raw.toString(), "--tag", "big"));
    String key = prefix + "/" + sha + ".qcow2";

    store.holdParts(2); // both parts stored, the upload not completed
    Process child = a.start(dir.resolve("child.log"), store.env(), "push", "big", "s3");
    try {
      assertTrue(
          store.partArrived.await(90, TimeUnit.SECONDS),
          () -> "the parts did not arrive: " + Canga.text(dir.resolve("child.log")));
      child.destroy(); // SIGTERM, as a Ctrl-C or a service stop would
      Thread.sleep(300);
      store.releaseParts();
      assertTrue(child.waitFor(90, TimeUnit.SECONDS), "the child did not stop");
    } finally {
      store.releaseParts();
      child.destroyForcibly();
    }
    assertFalse(store.keys(prefix + "/").contains(key), store.keys(prefix + "/").toString());
    assertEquals(
        List.of(),
        store.unfinishedUploads(prefix + "/"),
        "the interrupted push aborted its upload");

    s3ok(a, "push", "big", "s3");
    assertTrue(store.keys(prefix + "/").contains(key));
    Canga b = host("b");
    s3ok(b, "fetch", "s3");
    s3ok(b, "pull", "s3:big");
    b.assertStoredImageSound(b.repo("s3").resolve(sha + ".qcow2"), raw);
  }

  @Test
  @Timeout(120)
  void
      wrong_credentials_a_missing_bucket_and_a_missing_file_are_one_line_errors_that_write_nothing()
          throws Exception {
    Canga a = host("a");
    Chain ch = chain(a);
    s3ok(a, "push", "base", "s3");

    Canga b = host("b");
    Map<String, String> wrong = new java.util.HashMap<>(store.env());
    wrong.put("AWS_SECRET_ACCESS_KEY", "not-the-secret");
    Cli.Result denied = s3(b, wrong, "fetch", "s3");
    assertEquals(1, denied.exitCode());
    assertTrue(
        denied
            .stderr()
            .matches(
                "canga: s3://canga/" + prefix + "/index.yaml: [^\n]*secret access key[^\n]*\n"),
        denied.stderr());
    assertLocalCacheEmpty(b);

    Canga c = host("c", "s3://no-such-bucket/x");
    Cli.Result missing = s3(c, store.env(), "fetch", "s3");
    assertEquals(1, missing.exitCode());
    assertTrue(
        missing.stderr().matches("canga: s3://no-such-bucket/x/index.yaml: no such bucket\n"),
        missing.stderr());
    assertLocalCacheEmpty(c);

    store
        .client()
        .deleteObject(x -> x.bucket(S3Store.BUCKET).key(prefix + "/" + ch.baseSha() + ".qcow2"));
    s3ok(b, "fetch", "s3");
    Cli.Result absent = s3(b, store.env(), "pull", "s3:base");
    assertEquals(1, absent.exitCode());
    assertTrue(
        absent
            .stderr()
            .endsWith(
                "canga: s3://canga/"
                    + prefix
                    + "/"
                    + ch.baseSha()
                    + ".qcow2: no such object"
                    + " (the index names an image whose file is not in the store)\n"),
        absent.stderr());
    try (var files = Files.list(b.repo("s3"))) {
      assertEquals(
          List.of("index.yaml"),
          files
              .map(p -> p.getFileName().toString())
              .filter(n -> !n.startsWith(".") && !n.endsWith(".lock"))
              .sorted()
              .toList());
    }
  }

  @Test
  @Timeout(120)
  void a_pull_is_verified_and_resumes_what_an_interrupted_pull_left() throws Exception {
    Canga a = host("a");
    Chain ch = chain(a);
    s3ok(a, "push", "child", "s3");
    Canga b = host("b");
    s3ok(b, "fetch", "s3");
    // The first half of the base's file, as an interrupted pull leaves it.
    byte[] baseFile = Files.readAllBytes(a.defaultRepo().resolve(ch.baseSha() + ".qcow2"));
    Files.write(
        b.repo("s3").resolve(ch.baseSha() + ".qcow2.part"),
        java.util.Arrays.copyOf(baseFile, baseFile.length / 2));
    // The child's object replaced by another delta over the base: a valid qcow2, the wrong content.
    Path otherImage = a.dir.resolve("other.qcow2");
    Files.copy(ch.base(), otherImage);
    Qemu.io(a.dir, otherImage.toString(), "write -P 0x44 0 64k");
    String otherSha = Canga.sha(a.ok("add", otherImage.toString(), "--parent", "base"));
    byte[] other = Files.readAllBytes(a.defaultRepo().resolve(otherSha + ".qcow2"));
    store
        .client()
        .putObject(
            x -> x.bucket(S3Store.BUCKET).key(prefix + "/" + ch.childSha() + ".qcow2"),
            software.amazon.awssdk.core.sync.RequestBody.fromBytes(other));
    Cli.Result corrupt = s3(b, store.env(), "pull", "s3:child");
    assertEquals(255, corrupt.exitCode(), corrupt.stderr());
    assertTrue(
        corrupt
            .stderr()
            .endsWith(
                "Downloaded file of "
                    + ch.childSha()
                    + " is corrupt: its content sha256 is "
                    + otherSha
                    + "\n"),
        corrupt.stderr());
    assertFalse(Files.exists(b.repo("s3").resolve(ch.childSha() + ".qcow2")));
    assertFalse(Files.exists(b.repo("s3").resolve(ch.childSha() + ".qcow2.part")));
    b.assertStoredImageSound(b.repo("s3").resolve(ch.baseSha() + ".qcow2"), ch.base());
    assertTrue(
        Files.readAllBytes(b.repo("s3").resolve(ch.baseSha() + ".qcow2")).length
            == baseFile.length);
  }

  @Test
  @Timeout(120)
  void sign_signs_the_remote_index_and_a_later_push_removes_the_stale_signature() throws Exception {
    keyring = TestKeyring.create(dir);
    Path gnupg = keyring.home;
    Canga a = host("a");
    chain(a);
    s3ok(a, "push", "base", "s3");
    s3ok(a, "sign", "s3", "--gpg-homedir", gnupg.toString());
    assertTrue(store.keys(prefix + "/").contains(prefix + "/index.yaml.sig"));
    Canga b = host("b");
    s3ok(b, "fetch", "s3");
    Cli.Result good = s3ok(b, "verify", "s3", "--gpg-homedir", gnupg.toString());
    assertTrue(good.stderr().contains(TestKeyring.GOOD_SIGNATURE), good.stderr());

    s3ok(a, "push", "child", "s3");
    assertFalse(
        store.keys(prefix + "/").contains(prefix + "/index.yaml.sig"),
        "the signature of the old index is gone");
    s3ok(b, "fetch", "s3");
    Cli.Result unsigned = s3(b, store.env(), "verify", "s3", "--gpg-homedir", gnupg.toString());
    assertEquals(1, unsigned.exitCode(), unsigned.stderr());
  }

  @Test
  @Timeout(120)
  void an_index_that_lost_a_racing_write_is_completed_from_the_fragments() throws Exception {
    Canga a = host("a");
    Chain ch = chain(a);
    s3ok(a, "push", "child", "s3");
    // What a writer that read the old index and wrote last leaves: index.yaml without the child.
    String lost = remoteIndex().withoutImage(ch.childSha()).toYaml();
    store
        .client()
        .putObject(
            x -> x.bucket(S3Store.BUCKET).key(prefix + "/index.yaml"),
            software.amazon.awssdk.core.sync.RequestBody.fromString(lost));
    Canga b = host("b");
    s3ok(b, "fetch", "s3");
    assertTrue(b.ok("list", "s3").stdout().contains("s3:child "), "fetch takes the union");
    s3ok(a, "push", "grand", "s3");
    assertEquals(
        Set.of(ch.baseSha(), ch.childSha(), ch.grandSha()), remoteIndex().images().keySet());
    assertEquals(ch.childSha(), remoteIndex().tags().get("child"));
  }

  @Test
  @Timeout(120)
  void the_store_holds_a_plain_cangallo_folder_read_either_way() throws Exception {
    Canga a = host("a");
    Chain ch = chain(a);
    // A published folder copied into the bucket as it is (aws s3 sync): no fragments.
    try (var files = Files.list(a.defaultRepo())) {
      for (Path f :
          files.filter(f -> f.toString().endsWith(".qcow2") || f.endsWith("index.yaml")).toList()) {
        store
            .client()
            .putObject(
                x -> x.bucket(S3Store.BUCKET).key(prefix + "/" + f.getFileName()),
                software.amazon.awssdk.core.sync.RequestBody.fromFile(f));
      }
    }
    Canga b = host("b");
    s3ok(b, "fetch", "s3");
    s3ok(b, "pull", "s3:child");
    b.assertStoredImageSound(b.repo("s3").resolve(ch.childSha() + ".qcow2"), ch.child());
    // An image built on the remote's and pushed joins the folder's own entries.
    Path mine = dir.resolve("mine.qcow2");
    Files.copy(ch.child(), mine);
    Qemu.io(dir, mine.toString(), "write -P 0x55 2M 64k");
    String mineSha =
        Canga.sha(b.ok("add", mine.toString(), "s3", "--parent", "s3:child", "--tag", "mine"));
    s3ok(b, "push", "s3:mine", "s3");
    assertEquals(
        Set.of(ch.baseSha(), ch.childSha(), ch.grandSha(), mineSha),
        remoteIndex().images().keySet());

    // The same objects served over HTTP (s3proxy's filesystem store keeps them as files).
    Path folder = serverDir.resolve("store").resolve(S3Store.BUCKET).resolve(prefix);
    com.sun.net.httpserver.HttpServer http =
        com.sun.net.httpserver.HttpServer.create(
            new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 0);
    http.createContext(
        "/repo/",
        ex -> {
          Path f =
              folder.resolve(ex.getRequestURI().getPath().substring("/repo/".length())).normalize();
          byte[] body =
              f.startsWith(folder) && Files.isRegularFile(f) ? Files.readAllBytes(f) : null;
          ex.sendResponseHeaders(body == null ? 404 : 200, body == null ? -1 : body.length);
          if (body != null) {
            ex.getResponseBody().write(body);
          }
          ex.close();
        });
    http.start();
    try {
      Canga c = new Canga(Files.createDirectories(dir.resolve("c")));
      c.config(
          "    web:\n        type: remote\n        path: "
              + c.repo("web")
              + "\n        url: http://127.0.0.1:"
              + http.getAddress().getPort()
              + "/repo\n");
      c.ok("fetch", "web");
      c.ok("pull", "web:mine");
      c.assertStoredImageSound(c.repo("web").resolve(mineSha + ".qcow2"), mine);
      Cli.Result readOnly = c.run("push", "web:mine", "web");
      assertEquals(255, readOnly.exitCode());
      assertEquals(
          "Remote http://127.0.0.1:"
              + http.getAddress().getPort()
              + "/repo/ is read-only: push needs an s3:// remote\n",
          readOnly.stderr().substring(readOnly.stderr().indexOf("Remote ")));
    } finally {
      http.stop(0);
    }
  }

  @Test
  @Timeout(60)
  void a_url_of_another_scheme_is_refused_in_one_line() throws Exception {
    Canga a = host("a", "ftp://example.org/repo");
    Cli.Result r = s3(a, store.env(), "fetch", "s3");
    assertEquals(255, r.exitCode());
    assertEquals(
        "Remote url 'ftp://example.org/repo' is not http://, https://, s3:// or oci://\n",
        r.stderr());
  }

  @AfterEach
  void stopAgent() {
    if (keyring != null) {
      keyring.close();
    }
  }

  private static void assertLocalCacheEmpty(Canga c) throws Exception {
    Path cache = c.repo("s3");
    if (Files.exists(cache)) {
      try (var files = Files.list(cache)) {
        Set<String> names = new TreeSet<>();
        files.forEach(p -> names.add(p.getFileName().toString()));
        names.removeIf(n -> n.endsWith(".lock"));
        assertEquals(Set.of(), names);
      }
    }
  }
}
