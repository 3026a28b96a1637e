package dev.qcow2.tools.canga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import dev.qcow2.tools.repo.ImageEntry;
import dev.qcow2.tools.repo.RepositoryIndex;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The local repository verbs, end to end through {@code Main.run}, checked with qemu-img. */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class RepositoryCommandsTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dir;
  Canga canga;

  @BeforeEach
  void setUp() {
    canga = new Canga(dir);
  }

  @Test
  void should_create_the_default_configuration_on_first_use() throws Exception {
    canga.ok("list");
    assertEquals(
        "default_repo: default\nrepos:\n    default:\n        type: local\n        path: \""
            + canga.defaultRepo()
            + "\"\n",
        Files.readString(canga.config));
    assertTrue(Files.isDirectory(canga.defaultRepo()));
  }

  @Test
  void should_store_zstd_clusters_unless_the_config_asks_for_zlib() throws Exception {
    Path base = canga.image("base.qcow2", "4M", "write -P 0x11 0 1M");
    String sha = Canga.sha(canga.ok("add", base.toString()));
    assertTrue(
        Qemu.img(dir, "info", canga.defaultRepo().resolve(sha + ".qcow2").toString())
            .contains("compression type: zstd"));
    canga.config("compression_type: zlib\n");
    Path other = canga.image("other.qcow2", "4M", "write -P 0x12 0 1M");
    String sha2 = Canga.sha(canga.ok("add", other.toString()));
    Path stored = canga.defaultRepo().resolve(sha2 + ".qcow2");
    assertTrue(Qemu.img(dir, "info", stored.toString()).contains("compression type: zlib"));
    canga.assertStoredImageSound(stored, other);
    canga.config("compression_type: lz4\n");
    Cli.Result bad = canga.run("list");
    assertEquals(1, bad.exitCode());
    assertTrue(bad.stderr().contains("compression_type must be zlib or zstd"), bad.stderr());
  }

  @Test
  void should_add_an_image_under_its_content_hash_as_a_compressed_qcow2() throws Exception {
    Path base = canga.image("base.qcow2", "4M", "write -P 0x11 0 1M", "write -P 0x33 3M 64k");
    Cli.Result r = canga.ok("add", base.toString(), "--tag", "base");
    String sha = Canga.sha(r);
    assertEquals(canga.referenceSha(base), sha);
    assertEquals(
        "Calculating image sha256\nImage SHA256: " + sha + "\nCopying file to repository\n",
        r.stdout());
    assertEquals("", r.stderr());
    Path stored = canga.defaultRepo().resolve(sha + ".qcow2");
    canga.assertStoredImageSound(stored, base);
    JsonNode map = JSON.readTree(Qemu.img(dir, "map", "--output=json", stored.toString()));
    assertEquals(2, countData(map), map.toString());
    String check = Qemu.img(dir, "check", stored.toString());
    assertTrue(check.contains("100.00% compressed clusters"), check);

    RepositoryIndex index = RepositoryIndex.read(canga.defaultRepo().resolve("index.yaml"));
    ImageEntry e = index.image(sha);
    assertEquals(sha, e.sha256());
    assertEquals(4 << 20, e.virtualSize());
    assertEquals("qcow2", e.format());
    assertEquals(Files.size(stored) > 0, e.actualSize() > 0);
    assertEquals(Qemu.run(dir, "sha256sum", base.toString()).substring(0, 64), e.fileSha256());
    assertTrue(e.creationTime().isAfter(OffsetDateTime.now().minusMinutes(5)));
    assertEquals(sha, index.tags().get("base"));
    assertEquals("qcow2", e.node().get("format-specific").get("type").asText());
    assertEquals(
        List.of(
            "compat",
            "compression-type",
            "lazy-refcounts",
            "refcount-bits",
            "corrupt",
            "extended-l2"),
        fieldNames(e.node().get("format-specific").get("data")));
  }

  @Test
  void should_store_a_child_as_a_delta_holding_only_the_changed_clusters() throws Exception {
    Path base = canga.image("base.qcow2", "4M", "write -P 0x11 0 2M");
    String baseSha = Canga.sha(canga.ok("add", base.toString(), "--tag", "base"));
    Path child = dir.resolve("child.qcow2");
    Files.copy(base, child);
    Qemu.io(
        dir, child.toString(), "write -P 0x22 64k 64k", "write -P 0x44 3M 64k", "write -z 1M 64k");
    Cli.Result r = canga.ok("add", child.toString(), "--parent", "base", "--tag", "child");
    String childSha = Canga.sha(r);
    assertEquals(canga.referenceSha(child), childSha);
    Path stored = canga.defaultRepo().resolve(childSha + ".qcow2");
    canga.assertStoredImageSound(stored, child);
    JsonNode info = JSON.readTree(Qemu.img(dir, "info", "--output=json", stored.toString()));
    assertEquals(baseSha + ".qcow2", info.get("backing-filename").asText());
    assertEquals("qcow2", info.get("backing-filename-format").asText());
    // Only the three changed clusters live in the delta (depth 0); everything else comes from the
    // parent.
    JsonNode map = JSON.readTree(Qemu.img(dir, "map", "--output=json", stored.toString()));
    long own = 0;
    for (JsonNode run : map) {
      if (run.get("depth").asInt() == 0 && run.get("present").asBoolean()) {
        own += run.get("length").asLong();
      }
    }
    assertEquals(3 * 65536, own, map.toString());
    ImageEntry e = RepositoryIndex.read(canga.defaultRepo().resolve("index.yaml")).image(childSha);
    assertEquals(baseSha, e.parent());
    assertEquals("parent", e.node().fieldNames().next());
  }

  @Test
  void should_keep_the_bytes_with_copy() throws Exception {
    Path raw = dir.resolve("disk.raw");
    byte[] data = new byte[1 << 20];
    new java.util.Random(7).nextBytes(data);
    Files.write(raw, data);
    String sha = Canga.sha(canga.ok("add", raw.toString(), "--copy"));
    String fileSha = Qemu.run(dir, "sha256sum", raw.toString()).substring(0, 64);
    assertEquals(fileSha, sha);
    Path stored = canga.defaultRepo().resolve(sha + ".qcow2");
    assertTrue(java.util.Arrays.equals(data, Files.readAllBytes(stored)));
    ImageEntry e = RepositoryIndex.read(canga.defaultRepo().resolve("index.yaml")).image(sha);
    assertEquals("raw", e.format());
    assertNull(e.node().get("format-specific"));
    assertEquals(fileSha, e.fileSha256());
  }

  @Test
  void should_list_byte_for_byte_as_cangallo() throws Exception {
    Files.createDirectories(canga.defaultRepo());
    String now =
        ImageEntry.formatTimestamp(OffsetDateTime.now().minusSeconds((long) (35.4 * 86400)));
    String a = "6ad32786ec252802d959327ab135986cfecacc4abacaa73f2c2ee4a698f189fb";
    String b = "a9a017f5906eb9efff32b6b6375c648e6c8941ed7b3d3a1beea2132d8ea1ca5e";
    String c = "c0ffee0000000000000000000000000000000000000000000000000000000000";
    Files.writeString(
        canga.defaultRepo().resolve("index.yaml"),
        "---\nversion: 0\nimages:\n"
            + "  "
            + a
            + ":\n    actual-size: 1359872\n    creation-time: "
            + now
            + "\n    sha256: "
            + a
            + "\n"
            + "  "
            + b
            + ":\n    parent: "
            + a
            + "\n    description: Test derived image\n    actual-size: 299008\n"
            + "    creation-time: "
            + now
            + "\n    sha256: "
            + b
            + "\n"
            + "  "
            + c
            + ":\n    description: ''\n    actual-size: 1280452198\n    sha256: "
            + c
            + "\n"
            + "tags:\n  alpine: "
            + a
            + "\n  alpine/test: "
            + b
            + "\n");
    Files.writeString(canga.defaultRepo().resolve(a + ".qcow2"), "");
    Cli.Result r = canga.onTerminal(Map.of(), "list");
    String expected =
        "\u001b[1;4mNAME                                                      SIZE DAYS_AGO\u001b[0m\n"
            + "\u001b[1m  default:alpine                                        1.3 Mb     35.4\u001b[0m\n"
            + "\u001b[1m^*default:alpine/test                                   0.3 Mb     35.4\u001b[0m\n"
            + "    Test derived image                                                    \n"
            + "\u001b[1m *default:c0ffee0000000000                           1221.1 Mb      N/A\u001b[0m\n"
            + "    "
            + " ".repeat(70)
            + "\n";
    assertEquals(expected, r.stdout());
    assertEquals("", r.stderr());
    // Into a pipe: the same text without Cangallo's bold and underline.
    assertEquals(expected.replaceAll("\u001b\\[[0-9;]*m", ""), canga.ok("list").stdout());
  }

  @Test
  void should_list_as_json() throws Exception {
    Path base = canga.image("base.qcow2", "1M", "write -P 0x11 0 64k");
    String sha = Canga.sha(canga.ok("add", base.toString(), "--tag", "one"));
    canga.ok("tag", "two", "one");
    JsonNode list = JSON.readTree(canga.ok("list", "--output=json").stdout());
    assertEquals(1, list.size());
    JsonNode o = list.get(0);
    assertEquals("default:two", o.get("name").asText());
    assertEquals(sha, o.get("sha256").asText());
    assertEquals("[\"one\",\"two\"]", o.get("tags").toString());
    assertTrue(o.get("available").asBoolean());
    assertTrue(o.get("parent").isNull());
    assertEquals(1 << 20, o.get("virtual-size").asLong());
    assertEquals(0.0, o.get("days-ago").asDouble());
  }

  @Test
  void should_tag_move_tags_and_delete_them() throws Exception {
    String s1 =
        Canga.sha(canga.ok("add", canga.image("a.qcow2", "1M", "write -P 1 0 4k").toString()));
    String s2 =
        Canga.sha(canga.ok("add", canga.image("b.qcow2", "1M", "write -P 2 0 4k").toString()));
    canga.ok("tag", "t", s1.substring(0, 12));
    assertEquals(s1, index().tags().get("t"));
    canga.ok("tag", "t", s2);
    assertEquals(s2, index().tags().get("t"));
    assertTrue(canga.ok("show", "t").stdout().contains("sha256: " + s2 + "\n"));
    canga.ok("rmtag", "t");
    assertFalse(index().tags().containsKey("t"));
    Cli.Result missing = canga.run("deltag", "default:t");
    assertEquals(255, missing.exitCode());
    assertEquals("Image \"t\" not found\n", missing.stderr());
    Cli.Result colon = canga.run("tag", "x:y", s1);
    assertEquals(255, colon.exitCode());
    assertEquals("Tag name \"x:y\" must not be empty or contain ':'\n", colon.stderr());
    Cli.Result notFound = canga.run("tag", "z", "nothing");
    assertEquals(255, notFound.exitCode());
    assertEquals("Image \"nothing\" not found\n", notFound.stderr());
  }

  @Test
  void should_show_the_entry_as_yaml_with_its_repository() throws Exception {
    String sha =
        Canga.sha(
            canga.ok(
                "add", canga.image("a.qcow2", "1M", "write -P 1 0 4k").toString(), "--tag", "a"));
    Cli.Result r = canga.ok("show", "a");
    assertTrue(
        r.stdout().startsWith("---\nvirtual-size: 1048576\nformat: qcow2\nactual-size: "),
        r.stdout());
    // Psych quotes a hash that starts like a bad octal number ("0320090..."), as Ruby shows.
    String written = sha.matches("0[0-7]*[89].*") ? "'" + sha + "'" : sha;
    assertTrue(r.stdout().endsWith("sha256: " + written + "\nrepo: default\n"), r.stdout());
    Cli.Result none = canga.run("show", "nope");
    assertEquals(255, none.exitCode());
    assertEquals("No image found with name 'nope'\n", none.stderr());
  }

  @Test
  void should_refuse_an_ambiguous_prefix_and_list_the_candidates() throws Exception {
    Files.createDirectories(canga.defaultRepo());
    String a = "ab" + "1".repeat(62);
    String b = "ab" + "2".repeat(62);
    Files.writeString(
        canga.defaultRepo().resolve("index.yaml"),
        "---\nversion: 0\nimages:\n"
            + "  "
            + a
            + ":\n    sha256: "
            + a
            + "\n  "
            + b
            + ":\n    sha256: "
            + b
            + "\ntags:\n  bee: "
            + b
            + "\n");
    Cli.Result r = canga.run("show", "ab");
    assertEquals(255, r.exitCode());
    assertEquals(
        "Image name \"ab\" is ambiguous; it matches:\n  default:"
            + a
            + "\n  default:"
            + b
            + " (bee)\n",
        r.stderr());
    assertTrue(canga.ok("show", "ab1").stdout().contains("sha256: " + a));
    assertTrue(canga.ok("show", "default:bee").stdout().contains("sha256: " + b));
    assertEquals(255, canga.run("show", "").exitCode());
  }

  @Test
  void should_search_the_default_repository_first_then_the_others() throws Exception {
    canga.config("    other:\n        type: local\n        path: " + canga.repo("other") + "\n");
    Path img = canga.image("a.qcow2", "1M", "write -P 1 0 4k");
    String inOther = Canga.sha(canga.ok("add", img.toString(), "other", "--tag", "x"));
    assertTrue(canga.ok("show", "x").stdout().endsWith("repo: other\n"));
    canga.ok("add", canga.image("b.qcow2", "1M", "write -P 2 0 4k").toString(), "--tag", "x");
    assertTrue(canga.ok("show", "x").stdout().endsWith("repo: default\n"));
    assertTrue(canga.ok("show", "other:x").stdout().contains(inOther));
    Cli.Result unknown = canga.run("show", "nowhere:x");
    assertEquals(1, unknown.exitCode());
    assertEquals("canga: No repo with name 'nowhere'\n", unknown.stderr());
    String listing = canga.ok("list").stdout();
    assertTrue(listing.indexOf("default:x") < listing.indexOf("other:x"), listing);
    assertEquals(2, canga.ok("list", "other").stdout().lines().count());
  }

  @Test
  void should_refuse_to_delete_a_parent_unless_forced() throws Exception {
    Path base = canga.image("base.qcow2", "1M", "write -P 1 0 64k");
    String baseSha = Canga.sha(canga.ok("add", base.toString(), "--tag", "base"));
    Path child = dir.resolve("child.qcow2");
    Files.copy(base, child);
    Qemu.io(dir, child.toString(), "write -P 2 64k 64k");
    String childSha =
        Canga.sha(canga.ok("add", child.toString(), "--parent", "base", "--tag", "kid"));
    Cli.Result refused = canga.run("del", "base");
    assertEquals(255, refused.exitCode());
    assertEquals(
        "Image \"base\" is the parent of default:kid; delete them first, or use --force\n",
        refused.stderr());
    assertTrue(Files.exists(canga.defaultRepo().resolve(baseSha + ".qcow2")));
    assertTrue(index().images().containsKey(baseSha));

    canga.ok("rm", "kid");
    assertFalse(Files.exists(canga.defaultRepo().resolve(childSha + ".qcow2")));
    assertFalse(index().tags().containsKey("kid"));
    canga.ok("del", "base");
    assertTrue(index().images().isEmpty());
    assertTrue(index().tags().isEmpty());
    assertEquals(255, canga.run("del", "base").exitCode());
  }

  @Test
  void should_delete_a_parent_with_force_and_report_a_missing_file() throws Exception {
    Path base = canga.image("base.qcow2", "1M", "write -P 1 0 64k");
    String baseSha = Canga.sha(canga.ok("add", base.toString()));
    Path child = canga.image("child.qcow2", "1M", "write -P 3 0 64k");
    canga.ok("add", child.toString(), "--parent", baseSha.substring(0, 8));
    Files.delete(canga.defaultRepo().resolve(baseSha + ".qcow2"));
    Cli.Result r = canga.ok("del", "--force", baseSha);
    assertEquals("Image file not found\n", r.stderr());
    assertFalse(index().images().containsKey(baseSha));
    assertEquals(1, index().images().size());
  }

  @Test
  void should_make_an_overlay_backed_by_the_repository_image() throws Exception {
    Path base = canga.image("base.qcow2", "2M", "write -P 5 0 1M");
    String sha = Canga.sha(canga.ok("add", base.toString(), "--tag", "base"));
    Path overlay = dir.resolve("work.qcow2");
    canga.ok("overlay", "base", overlay.toString());
    JsonNode info = JSON.readTree(Qemu.img(dir, "info", "--output=json", overlay.toString()));
    assertEquals(
        canga.defaultRepo().resolve(sha + ".qcow2").toAbsolutePath().toString(),
        info.get("backing-filename").asText());
    assertEquals(2 << 20, info.get("virtual-size").asLong());
    canga.assertStoredImageSound(overlay, base);
    assertEquals(255, canga.run("overlay", "none", dir.resolve("x.qcow2").toString()).exitCode());
  }

  @Test
  void should_create_plain_images_and_overlays_on_files_or_images() throws Exception {
    Path plain = dir.resolve("plain.qcow2");
    Cli.Result r = canga.ok("create", plain.toString(), "3M");
    assertEquals(plain + "\n3M\n", r.stdout());
    assertEquals(
        3 << 20,
        JSON.readTree(Qemu.img(dir, "info", "--output=json", plain.toString()))
            .get("virtual-size")
            .asLong());
    Path over = dir.resolve("over.qcow2");
    assertEquals(
        over + "\n\n", canga.ok("create", over.toString(), "--parent", plain.toString()).stdout());
    JsonNode info = JSON.readTree(Qemu.img(dir, "info", "--output=json", over.toString()));
    assertEquals(plain.toString(), info.get("backing-filename").asText());
    assertEquals(3 << 20, info.get("virtual-size").asLong());
    canga.ok("add", canga.image("b.qcow2", "1M").toString(), "--tag", "blank");
    Path onImage = dir.resolve("on-image.qcow2");
    canga.ok("create", onImage.toString(), "--parent", "blank");
    assertEquals(
        1 << 20,
        JSON.readTree(Qemu.img(dir, "info", "--output=json", onImage.toString()))
            .get("virtual-size")
            .asLong());
    Cli.Result noSize = canga.run("create", dir.resolve("n.qcow2").toString());
    assertEquals(1, noSize.exitCode());
    assertEquals("canga: Image creation needs a size parameter\n", noSize.stderr());
  }

  @Test
  void should_export_the_flattened_chain_as_qcow2_or_raw() throws Exception {
    Path base = canga.image("base.qcow2", "2M", "write -P 1 0 1M");
    canga.ok("add", base.toString(), "--tag", "base");
    Path child = dir.resolve("child.qcow2");
    Files.copy(base, child);
    Qemu.io(dir, child.toString(), "write -P 9 512k 64k");
    canga.ok("add", child.toString(), "--parent", "base", "--tag", "child");
    Path q = dir.resolve("out.qcow2");
    canga.ok("export", "child", q.toString());
    JsonNode info = JSON.readTree(Qemu.img(dir, "info", "--output=json", q.toString()));
    assertNull(info.get("backing-filename"));
    canga.assertStoredImageSound(q, child);
    Path c = dir.resolve("out-c.qcow2");
    canga.ok("export", "-c", "child", c.toString());
    canga.assertStoredImageSound(c, child);
    assertTrue(Qemu.img(dir, "check", c.toString()).contains("100.00% compressed clusters"));
    Path raw = dir.resolve("out.raw");
    canga.ok("export", "child", raw.toString(), "-f", "raw");
    assertEquals(
        canga.referenceSha(child), Qemu.run(dir, "sha256sum", raw.toString()).substring(0, 64));
    Cli.Result bad =
        canga.run("export", "-c", "-f", "raw", "child", dir.resolve("x.raw").toString());
    assertEquals(1, bad.exitCode());
    assertEquals("canga: Compression not supported for this file format\n", bad.stderr());
    assertEquals(
        "Image not found\n", canga.run("export", "nope", dir.resolve("y").toString()).stderr());
  }

  @Test
  void should_import_an_image_with_its_ancestors_into_another_repository() throws Exception {
    canga.config("    cache:\n        type: local\n        path: " + canga.repo("cache") + "\n");
    Path base = canga.image("base.qcow2", "1M", "write -P 1 0 256k");
    String baseSha = Canga.sha(canga.ok("add", base.toString(), "cache", "--tag", "base"));
    Path child = dir.resolve("child.qcow2");
    Files.copy(base, child);
    Qemu.io(dir, child.toString(), "write -P 2 0 64k");
    String childSha =
        Canga.sha(canga.ok("add", child.toString(), "cache", "--parent", "cache:base"));
    canga.ok("import", "cache:" + childSha.substring(0, 10), "--tag", "imported");
    RepositoryIndex local = index();
    assertEquals(List.of(baseSha, childSha), List.copyOf(local.images().keySet()));
    assertEquals(childSha, local.tags().get("imported"));
    assertEquals(
        RepositoryIndex.read(canga.repo("cache").resolve("index.yaml")).image(childSha),
        local.image(childSha));
    Path imported = canga.defaultRepo().resolve(childSha + ".qcow2");
    canga.assertStoredImageSound(imported, child);
    Cli.Result same = canga.run("import", "imported");
    assertEquals(255, same.exitCode());
    assertEquals("Image default:imported is already in repository 'default'\n", same.stderr());
    assertTrue(Files.exists(imported));
  }

  @Test
  void should_read_an_index_written_by_cangallo_and_keep_what_it_does_not_know() throws Exception {
    Files.createDirectories(canga.defaultRepo());
    Path index = canga.defaultRepo().resolve("index.yaml");
    Files.copy(getClass().getResourceAsStream("cangallo-index.yaml"), index);
    Cli.Result show = canga.ok("show", "alpine/test");
    assertTrue(
        show.stdout().contains("creation-time: 2016-07-14 09:05:12.000000001 Z\n"), show.stdout());
    assertTrue(show.stdout().contains("x-unknown-key: kept\nrepo: default\n"), show.stdout());
    assertTrue(
        show.stdout().contains("  - run: |-\n      echo two\n      echo three\n"), show.stdout());
    String list = canga.ok("list").stdout();
    assertTrue(list.contains(" *default:alpine-latest "), list);
    assertTrue(list.contains("^*default:alpine/test "), list);
    assertTrue(list.contains("    Test derived image"), list);
    // A change rewrites the index; everything else stays as it was.
    canga.ok("tag", "newtag", "alpine");
    RepositoryIndex before =
        RepositoryIndex.parse(
            new String(
                getClass().getResourceAsStream("cangallo-index.yaml").readAllBytes(),
                java.nio.charset.StandardCharsets.UTF_8));
    RepositoryIndex after = RepositoryIndex.read(index);
    assertEquals(before.images(), after.images());
    String text = Files.readString(index);
    assertTrue(text.contains("creation-time: 2016-05-10 16:30:31.551512000 +02:00\n"), text);
    assertTrue(
        text.endsWith(
            "  newtag: 6ad32786ec252802d959327ab135986cfecacc4abacaa73f2c2ee4a698f189fb\nextra-top-level: 42\n"),
        text);
  }

  @Test
  void should_accept_abbreviated_verbs_and_refuse_unknown_ones() {
    assertEquals(0, canga.run("li").exitCode());
    Cli.Result ambiguous = canga.run("de", "x");
    assertEquals(1, ambiguous.exitCode());
    assertTrue(ambiguous.stderr().contains("'de' is not unique"), ambiguous.stderr());
    assertEquals(1, canga.run("frob").exitCode());
    assertTrue(canga.run().stdout().contains("check_system"));
  }

  @Test
  void should_check_the_system_for_libguestfs() {
    Cli.Result r = canga.run("check-system");
    boolean haveVirtCustomize = Files.isExecutable(Path.of("/usr/bin/virt-customize"));
    assertEquals(
        haveVirtCustomize && !r.stderr().contains("There is at least one problem") ? 0 : 255,
        r.exitCode());
    assertTrue(
        r.stderr()
            .endsWith(
                "It's also a good idea to execute libguestfs test tool:\n\n    $ libguestfs-test-tool\n\n"),
        r.stderr());
    if (!haveVirtCustomize) {
      assertTrue(
          r.stderr().contains("Could not get virt-customize version. Is libguestfs installed?\n"),
          r.stderr());
    }
  }

  private RepositoryIndex index() throws Exception {
    return RepositoryIndex.read(canga.defaultRepo().resolve("index.yaml"));
  }

  private static int countData(JsonNode map) {
    int n = 0;
    for (JsonNode run : map) {
      if (run.get("data").asBoolean()) {
        n++;
      }
    }
    return n;
  }

  private static List<String> fieldNames(JsonNode node) {
    List<String> names = new java.util.ArrayList<>();
    node.fieldNames().forEachRemaining(names::add);
    return names;
  }
}
