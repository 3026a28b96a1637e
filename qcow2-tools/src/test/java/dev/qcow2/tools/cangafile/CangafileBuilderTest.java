package dev.qcow2.tools.cangafile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.ImageEntry;
import dev.qcow2.tools.repo.Repositories;
import dev.qcow2.tools.repo.RepositoryConfig;
import dev.qcow2.tools.repo.RepositoryIndex;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The build pipeline with a stand-in for virt-customize (a script that records its arguments and
 * writes into the overlay with qemu-io), so everything but libguestfs runs in the fast suite.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class CangafileBuilderTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dir;
  Path repo;
  Path config;
  Path record;
  String parentSha;

  @BeforeEach
  void setUp() throws Exception {
    repo = dir.resolve("home/default");
    config = dir.resolve("home/config.yaml");
    record = Files.createDirectories(dir.resolve("record"));
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "base.qcow2", "4M");
    Qemu.io(dir, dir.resolve("base.qcow2").toString(), "write -P 0x11 0 1M");
    Cli.Result add =
        Cli.run(
            "canga",
            "--config",
            config.toString(),
            "add",
            dir.resolve("base.qcow2").toString(),
            "--tag",
            "base");
    assertEquals(0, add.exitCode(), add.stderr());
    parentSha = RepositoryIndex.read(repo.resolve("index.yaml")).tags().get("base");
  }

  private GuestCustomizer fake(int status) throws Exception {
    Path script = dir.resolve("fake-virt-customize");
    Files.writeString(
        script,
        """
        #!/bin/sh
        img="$2"; shift 2
        while [ $# -gt 0 ]; do
          case "$1" in
            --password) echo "$2" >> REC/passwords; sel="$2"; cat "${sel#*:file:}" > REC/secret; shift 2;;
            --commands-from-file) cp "$2" REC/commands; shift 2;;
            *) shift;;
          esac
        done
        env | grep '^LIBGUESTFS' | sort > REC/env
        echo "customizing $img"
        qemu-io -f qcow2 -c "write -P 0x66 128k 64k" -c "write -z 0 64k" -c "write -P 0 2M 64k" "$img" > /dev/null
        exit STATUS
        """
            .replace("REC", record.toString())
            .replace("STATUS", Integer.toString(status)));
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
    return new GuestCustomizer(script.toString(), Map.of());
  }

  private Repositories repos() throws Exception {
    return new Repositories(RepositoryConfig.load(config, dir));
  }

  @Test
  void should_build_a_compressed_delta_with_the_cangafile_recorded() throws Exception {
    Cangafile c =
        Cangafile.parse(
            "web.canga",
            """
        description: Web server
        os: Debian 12
        parent: base
        tag: web
        tasks:
          - run: [apt-get install -y nginx]
          - delete: /var/cache/apt
          - password: {user: root, password: hunter2}
        """);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    String sha;
    try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8)) {
      sha = new CangafileBuilder(repos(), fake(0), o, o).build(c, "web.canga", null);
    }
    String printed = out.toString(StandardCharsets.UTF_8);
    assertTrue(
        printed.startsWith(
            "run-command apt-get install -y nginx\ndelete /var/cache/apt\ncustomizing "),
        printed);
    assertTrue(
        printed.endsWith(
            "Image SHA256: " + sha + "\nCopying file to repository\nDeleting temporary image\n"),
        printed);
    assertEquals(
        "run-command apt-get install -y nginx\ndelete /var/cache/apt\n",
        Files.readString(record.resolve("commands")));
    assertTrue(Files.readString(record.resolve("passwords")).startsWith("root:file:"));
    assertEquals("hunter2", Files.readString(record.resolve("secret")));
    String env = Files.readString(record.resolve("env"));
    assertTrue(env.contains("LIBGUESTFS_BACKEND=direct\n"), env);
    assertEquals(
        !GuestCustomizer.kvmUsable(), env.contains("LIBGUESTFS_BACKEND_SETTINGS=force_tcg"), env);

    RepositoryIndex index = RepositoryIndex.read(repo.resolve("index.yaml"));
    ImageEntry e = index.image(sha);
    assertEquals(
        List.of(
            "parent",
            "description",
            "os",
            "cangafile",
            "virtual-size",
            "format",
            "actual-size",
            "format-specific",
            "file-sha256",
            "creation-time",
            "sha256"),
        names(e.node()));
    assertEquals(parentSha, e.parent());
    assertEquals("Web server", e.description());
    assertEquals("Debian 12", e.os());
    assertEquals(
        "[redacted]",
        e.node().get("cangafile").get("tasks").get(2).get("password").get("password").asText());
    assertEquals("base", e.node().get("cangafile").get("parent").asText());
    assertEquals(sha, index.tags().get("web"));
    assertFalse(Files.readString(repo.resolve("index.yaml")).contains("hunter2"));

    Path stored = repo.resolve(sha + ".qcow2");
    assertEquals(
        parentSha + ".qcow2",
        JSON.readTree(Qemu.img(dir, "info", "--output=json", stored.toString()))
            .get("backing-filename")
            .asText());
    // The delta holds the zeroed cluster over the parent's data and the new data; the zeros
    // written where the parent is zero are not stored (the sparsify step).
    JsonNode map = JSON.readTree(Qemu.img(dir, "map", "--output=json", stored.toString()));
    StringBuilder own = new StringBuilder();
    for (JsonNode run : map) {
      if (run.get("depth").asInt() == 0 && run.get("present").asBoolean()) {
        own.append(run.get("start").asLong())
            .append('+')
            .append(run.get("length").asLong())
            .append(run.get("data").asBoolean() ? "d " : "z ");
      }
    }
    assertEquals("0+65536z 131072+65536d ", own.toString(), map.toString());
    assertEquals(0, Qemu.exec(dir, List.of("qemu-img", "check", stored.toString())).exitCode());
    try (var files = Files.list(repo)) {
      assertEquals(4, files.count()); // two images, index.yaml, index.yaml.lock: no overlay left
    }
  }

  @Test
  void should_remove_the_overlay_and_store_nothing_when_virt_customize_fails() throws Exception {
    Cangafile c = Cangafile.parse("x.canga", "parent: base\ntasks:\n  - run: [false]\n");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8)) {
      CangaException e =
          assertThrows(
              CangaException.class,
              () -> new CangafileBuilder(repos(), fake(3), o, o).build(c, "x.canga", "t"));
      assertEquals("virt-customize failed with exit status 3", e.getMessage());
    }
    assertEquals(1, RepositoryIndex.read(repo.resolve("index.yaml")).images().size());
    try (var files = Files.list(repo)) {
      assertEquals(3, files.count());
    }
  }

  @Test
  void should_refuse_a_bad_cangafile_or_a_missing_parent_before_creating_anything()
      throws Exception {
    Path bad = dir.resolve("bad.canga");
    Files.writeString(bad, "parent: base\ntasks:\n  - run: [ls]\n  - frob: x\n");
    Cli.Result r = Cli.run("canga", "--config", config.toString(), "build", bad.toString());
    assertEquals(1, r.exitCode());
    assertEquals("canga: " + bad + ":4: Invalid action \"frob\"\n", r.stderr());
    assertEquals("", r.stdout());
    Path orphan = dir.resolve("orphan.canga");
    Files.writeString(orphan, "parent: nothing\ntasks:\n  - run: [ls]\n");
    Cli.Result missing =
        Cli.run("canga", "--config", config.toString(), "build", orphan.toString());
    assertEquals(255, missing.exitCode());
    assertEquals("Image not found\n", missing.stderr());
    assertEquals("run-command ls\n", missing.stdout());
    try (var files = Files.list(repo)) {
      assertEquals(3, files.count());
    }
  }

  private static List<String> names(JsonNode node) {
    List<String> list = new java.util.ArrayList<>();
    node.fieldNames().forEachRemaining(list::add);
    return list;
  }
}
