package dev.qcow2.tools.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.qcow2.testing.Qemu;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** containerDisks read back by skopeo from a registry, an OCI layout and an OCI archive. */
@Timeout(180)
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class ContainerDiskTest {
  @TempDir Path dir;
  Path disk;

  @BeforeEach
  void disk() {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "disk.qcow2", "8M");
    Qemu.io(dir, "disk.qcow2", "write -P 0x5a 0 1M", "write -P 0xa5 6M 512k");
    disk = dir.resolve("disk.qcow2");
  }

  /** The entries of a gzip tar layer; {@code disk/disk.qcow2} extracted to {@code extracted}. */
  private static List<TarArchiveEntry> unpack(Path layer, Path extracted) throws Exception {
    List<TarArchiveEntry> entries = new ArrayList<>();
    try (InputStream in = new GZIPInputStream(Files.newInputStream(layer));
        TarArchiveInputStream tar = new TarArchiveInputStream(in)) {
      TarArchiveEntry e;
      while ((e = tar.getNextEntry()) != null) {
        entries.add(e);
        if (e.getName().equals(ContainerDisk.DISK)) {
          Files.copy(tar, extracted);
        }
      }
    }
    return entries;
  }

  /** The layer blob of the image {@code tag} in an OCI layout folder, after checking its config. */
  private static Path layerOf(Path layout, String tag) throws Exception {
    JsonNode index = RegistryClient.JSON.readTree(layout.resolve("index.json").toFile());
    String digest = null;
    for (JsonNode m : index.path("manifests")) {
      if (tag.equals(m.path("annotations").path(OciLayout.REF_NAME).asText())) {
        digest = m.path("digest").asText();
      }
    }
    assertNotNull(digest, "no " + tag + " in " + index);
    ImageManifest manifest =
        ImageManifest.parse(Files.readAllBytes(blob(layout, Digest.parse(digest))), "layout");
    JsonNode config =
        RegistryClient.JSON.readTree(blob(layout, manifest.config().digest()).toFile());
    assertEquals("amd64", config.path("architecture").asText());
    assertEquals("linux", config.path("os").asText());
    assertEquals(1, manifest.layers().size());
    Path layer = blob(layout, manifest.layers().get(0).digest());
    Path tarFile = layout.resolveSibling("layer-" + tag + ".tar");
    try (InputStream in = new GZIPInputStream(Files.newInputStream(layer))) {
      Files.copy(in, tarFile);
    }
    try (InputStream in = Files.newInputStream(tarFile)) {
      assertEquals(
          Digest.of(in.readAllBytes()).toString(),
          config.path("rootfs").path("diff_ids").path(0).asText());
    }
    return layer;
  }

  private static Path blob(Path layout, Digest d) {
    return layout.resolve("blobs/sha256/" + d.hex());
  }

  private void assertHoldsTheDisk(Path layer, String name) throws Exception {
    Path extracted = dir.resolve(name + ".qcow2");
    List<TarArchiveEntry> entries = unpack(layer, extracted);
    assertEquals(
        List.of("disk/", "disk/disk.qcow2"),
        entries.stream().map(TarArchiveEntry::getName).toList());
    for (TarArchiveEntry e : entries) {
      assertEquals(107, e.getLongUserId(), e.getName());
      assertEquals(107, e.getLongGroupId(), e.getName());
    }
    Qemu.img(dir, "check", extracted.toString());
    Qemu.img(dir, "compare", disk.toString(), extracted.toString());
  }

  @Test
  void skopeo_copies_our_registry_containerdisk_into_a_layout_holding_the_disk() throws Exception {
    try (DockerRegistry registry = DockerRegistry.start(dir.resolve("registry"))) {
      ContainerDiskTarget target =
          ContainerDiskTarget.parse("oci://127.0.0.1:" + registry.port + "/kubevirt/disk:v1");
      Digest manifest = ContainerDisk.export(disk, target, CredentialStore.none(), Set.of());
      assertEquals(manifest, registry.client("kubevirt/disk").manifestDigest("v1"));
      Path copy = dir.resolve("copy");
      Qemu.run(
          dir,
          "skopeo",
          "copy",
          "--src-tls-verify=false",
          "docker://127.0.0.1:" + registry.port + "/kubevirt/disk:v1",
          "oci:" + copy + ":v1");
      assertHoldsTheDisk(layerOf(copy, "v1"), "from-registry");
      String inspect =
          Qemu.run(
              dir,
              "skopeo",
              "inspect",
              "--tls-verify=false",
              "docker://127.0.0.1:" + registry.port + "/kubevirt/disk:v1");
      JsonNode info = RegistryClient.JSON.readTree(inspect);
      assertEquals("amd64", info.path("Architecture").asText());
      assertEquals("linux", info.path("Os").asText());
    }
  }

  @Test
  void our_layout_is_read_by_skopeo_and_keeps_its_other_images() throws Exception {
    Path layout = dir.resolve("layout");
    ContainerDisk.export(
        disk,
        ContainerDiskTarget.parse("oci:" + layout + ":first"),
        CredentialStore.none(),
        Set.of());
    ContainerDisk.export(
        disk,
        ContainerDiskTarget.parse("oci:" + layout + ":second"),
        CredentialStore.none(),
        Set.of());
    for (String tag : List.of("first", "second")) {
      JsonNode info =
          RegistryClient.JSON.readTree(
              Qemu.run(dir, "skopeo", "inspect", "oci:" + layout + ":" + tag));
      assertEquals("amd64", info.path("Architecture").asText());
      assertEquals(1, info.path("Layers").size());
    }
    assertEquals(
        2,
        RegistryClient.JSON
            .readTree(layout.resolve("index.json").toFile())
            .path("manifests")
            .size());
    assertHoldsTheDisk(layerOf(layout, "second"), "from-layout");
    try (var s = Files.list(layout.resolve("blobs/sha256"))) {
      assertEquals(
          3, s.count(), "one layer, one config, one manifest: the same disk gives the same blobs");
    }
  }

  @Test
  void our_archive_is_read_by_skopeo() throws Exception {
    Path archive = dir.resolve("disk.tar");
    ContainerDisk.export(
        disk,
        ContainerDiskTarget.parse("oci-archive:" + archive + ":v2"),
        CredentialStore.none(),
        Set.of());
    JsonNode info =
        RegistryClient.JSON.readTree(
            Qemu.run(dir, "skopeo", "inspect", "oci-archive:" + archive + ":v2"));
    assertEquals("linux", info.path("Os").asText());
    Path copy = dir.resolve("from-archive");
    Qemu.run(dir, "skopeo", "copy", "oci-archive:" + archive + ":v2", "oci:" + copy + ":v2");
    assertHoldsTheDisk(layerOf(copy, "v2"), "from-archive");
    try (var s = Files.list(dir)) {
      assertTrue(
          s.noneMatch(p -> p.getFileName().toString().startsWith(".containerdisk-")),
          "temporary folder removed");
    }
  }

  @Test
  void targets_parse_as_skopeo_names_them() {
    ContainerDiskTarget r = ContainerDiskTarget.parse("oci://127.0.0.1:5000/ns/repo:tag");
    assertEquals("127.0.0.1:5000", r.registry().registry());
    assertEquals("tag", r.tag());
    ContainerDiskTarget l = ContainerDiskTarget.parse("oci:/tmp/x:latest");
    assertEquals(Path.of("/tmp/x"), l.path());
    assertEquals("latest", l.tag());
    ContainerDiskTarget a = ContainerDiskTarget.parse("oci-archive:out.tar");
    assertTrue(a.archive());
    assertEquals(null, a.tag());
    assertEquals(
        "'docker://x/y' is not oci://HOST[:PORT]/NAMESPACE/REPO[:TAG], oci:DIR[:TAG] or oci-archive:FILE[:TAG]",
        org.junit.jupiter.api.Assertions.assertThrows(
                IllegalArgumentException.class, () -> ContainerDiskTarget.parse("docker://x/y"))
            .getMessage());
  }
}
