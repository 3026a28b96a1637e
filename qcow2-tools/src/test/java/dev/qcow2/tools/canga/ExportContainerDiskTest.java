package dev.qcow2.tools.canga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code canga export IMAGE --containerdisk REF}: a delta's whole chain in one containerDisk. */
@Timeout(180)
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class ExportContainerDiskTest {
  static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dir;
  Canga canga;
  Path child;
  String childSha;

  @BeforeEach
  void setUp() throws Exception {
    canga = new Canga(dir);
    canga.config("");
    Path base = canga.image("base.qcow2", "6M", "write -P 0x11 0 2M");
    canga.ok("add", base.toString(), "--tag", "base");
    child = dir.resolve("child.qcow2");
    Files.copy(base, child);
    Qemu.io(dir, child.toString(), "write -P 0x22 1M 512k", "write -P 0x33 5M 64k");
    childSha =
        Canga.sha(canga.ok("add", child.toString(), "--parent", "base", "--tag", "team/child"));
  }

  /** Extracts {@code disk/disk.qcow2} of the image {@code tag} of a layout, checking its owner. */
  private Path disk(Path layout, String tag) throws Exception {
    String digest = null;
    for (JsonNode m : JSON.readTree(layout.resolve("index.json").toFile()).path("manifests")) {
      if (tag.equals(m.path("annotations").path("org.opencontainers.image.ref.name").asText())) {
        digest = m.path("digest").asText();
      }
    }
    JsonNode manifest =
        JSON.readTree(layout.resolve("blobs/sha256/" + digest.substring(7)).toFile());
    Path layer =
        layout.resolve(
            "blobs/sha256/" + manifest.path("layers").path(0).path("digest").asText().substring(7));
    Path out = dir.resolve("extracted-" + tag + ".qcow2");
    try (InputStream in = new GZIPInputStream(Files.newInputStream(layer));
        TarArchiveInputStream tar = new TarArchiveInputStream(in)) {
      TarArchiveEntry e;
      while ((e = tar.getNextEntry()) != null) {
        if (e.getName().equals("disk/disk.qcow2")) {
          assertEquals(107, e.getLongUserId());
          assertEquals(107, e.getLongGroupId());
          Files.copy(tar, out);
        }
      }
    }
    return out;
  }

  @Test
  void the_flattened_chain_goes_into_a_layout_under_the_short_sha_when_no_tag_is_legal()
      throws Exception {
    Path layout = dir.resolve("layout");
    Cli.Result r = canga.ok("export", "team/child", "--containerdisk", "oci:" + layout);
    String tag = childSha.substring(0, 16);
    assertTrue(r.stderr().contains("oci:" + layout + ":" + tag), r.stderr());
    JsonNode info = JSON.readTree(Qemu.run(dir, "skopeo", "inspect", "oci:" + layout + ":" + tag));
    assertEquals("amd64", info.path("Architecture").asText());
    Path disk = disk(layout, tag);
    assertFalse(Qemu.img(dir, "info", disk.toString()).contains("backing file"), "flattened");
    canga.assertStoredImageSound(disk, child);
  }

  @Test
  void a_registry_that_is_not_there_is_one_line() {
    Cli.Result r = canga.run("export", "base", "--containerdisk", "oci://127.0.0.1:1/ns/disk");
    assertEquals(1, r.exitCode());
    assertTrue(
        r.stderr().startsWith("canga: oci://127.0.0.1:1/ns/disk: cannot reach the registry")
            && r.stderr().endsWith("\n")
            && r.stderr().indexOf('\n') == r.stderr().length() - 1,
        r.stderr());
  }

  @Test
  void the_first_tag_names_an_archive_image() throws Exception {
    Path archive = dir.resolve("base.tar");
    canga.ok("export", "base", "--containerdisk", "oci-archive:" + archive);
    JsonNode info =
        JSON.readTree(Qemu.run(dir, "skopeo", "inspect", "oci-archive:" + archive + ":base"));
    assertEquals("linux", info.path("Os").asText());
  }

  @Test
  void output_and_containerdisk_are_one_or_the_other() {
    Cli.Result neither = canga.run("export", "base");
    assertEquals(1, neither.exitCode());
    assertEquals("canga: export needs either OUTPUT or --containerdisk REF\n", neither.stderr());
    Cli.Result bad = canga.run("export", "base", "--containerdisk", "docker://x/y");
    assertEquals(1, bad.exitCode());
    assertEquals(
        "canga: 'docker://x/y' is not oci://HOST[:PORT]/NAMESPACE/REPO[:TAG], oci:DIR[:TAG] or "
            + "oci-archive:FILE[:TAG]\n",
        bad.stderr());
  }
}
