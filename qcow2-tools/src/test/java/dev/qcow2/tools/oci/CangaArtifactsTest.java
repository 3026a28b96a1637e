package dev.qcow2.tools.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.DiskImage;
import dev.qcow2.hash.ContentHasher;
import dev.qcow2.hash.HashAlgorithm;
import dev.qcow2.testing.Qemu;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A base and two deltas, made by qemu-img and qemu-io in a repository-like folder (files named
 * {@code <sha256>.qcow2}, deltas with relative backing names), pushed to docker-registry as canga
 * artifacts, listed and pulled back into another folder.
 */
@Timeout(180)
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class CangaArtifactsTest {
  static final String LONG_TAG = "t".repeat(130);

  @TempDir Path dir;
  DockerRegistry registry;
  Path src;
  CangaArtifacts.Image base;
  CangaArtifacts.Image delta1;
  CangaArtifacts.Image delta2;
  Map<String, String> tags;

  @BeforeEach
  void setUp() throws Exception {
    registry = DockerRegistry.start(dir.resolve("registry"));
    src = Files.createDirectories(dir.resolve("src"));
    base = image(null, "write -P 0x11 0 2M");
    delta1 = image(base, "write -P 0x22 1M 256k");
    delta2 = image(delta1, "write -P 0x33 3M 64k", "write -z 0 64k");
    tags = new LinkedHashMap<>();
    tags.put("base", base.sha256());
    tags.put("base+1", delta1.sha256());
    tags.put(LONG_TAG, delta1.sha256());
    tags.put("team/top", delta2.sha256());
    tags.put("top", delta2.sha256());
  }

  @AfterEach
  void tearDown() throws Exception {
    registry.close();
  }

  /**
   * A qcow2 file (a delta over {@code parent} by its relative name) renamed to its content sha256.
   */
  private CangaArtifacts.Image image(CangaArtifacts.Image parent, String... writes)
      throws Exception {
    Path tmp = src.resolve("new.qcow2");
    if (parent == null) {
      Qemu.img(src, "create", "-q", "-f", "qcow2", tmp.toString(), "4M");
    } else {
      Qemu.img(
          src,
          "create",
          "-q",
          "-f",
          "qcow2",
          "-b",
          parent.sha256() + ".qcow2",
          "-F",
          "qcow2",
          tmp.toString());
    }
    Qemu.io(src, tmp.toString(), writes);
    String sha;
    try (DiskImage d = DiskImage.open(tmp)) {
      sha = ContentHasher.hash(d, HashAlgorithm.SHA256, 1, null).hex();
    }
    Path file = src.resolve(sha + ".qcow2");
    Files.move(tmp, file);
    ObjectNode entry = JsonNodeFactory.instance.objectNode();
    if (parent != null) {
      entry.put("parent", parent.sha256());
      entry.putNull("description");
    }
    entry.put("virtual-size", 4L << 20);
    entry.put("format", "qcow2");
    entry.put("actual-size", Files.size(file));
    entry.putObject("format-specific").put("type", "qcow2").putObject("data").put("compat", "1.1");
    entry.put("creation-time", "2026-12-03 08:00:00.123456789 +00:00");
    entry.put("sha256", sha);
    return new CangaArtifacts.Image(entry, file);
  }

  private CangaArtifacts artifacts(String repository) {
    return new CangaArtifacts(registry.client(repository));
  }

  @Test
  void a_chain_comes_back_as_pushed_with_every_tag() throws Exception {
    CangaArtifacts a = artifacts("ns/images");
    List<CangaArtifacts.Pushed> pushed = a.push(List.of(base, delta1, delta2), tags, null);
    assertEquals(3, pushed.size());
    assertTrue(pushed.stream().allMatch(CangaArtifacts.Pushed::layerUploaded));

    CangaArtifacts.Listing listing = a.list();
    assertEquals(
        List.of(base.sha256(), delta1.sha256(), delta2.sha256()),
        List.copyOf(listing.images().keySet()));
    for (CangaArtifacts.Image i : List.of(base, delta1, delta2)) {
      // Same keys in the same order, same values (a number may come back as a narrower node type).
      assertEquals(i.entry().toString(), listing.images().get(i.sha256()).toString());
    }
    assertEquals(tags, listing.tags());

    Path dst = Files.createDirectories(dir.resolve("dst"));
    for (CangaArtifacts.Image i : List.of(base, delta1, delta2)) {
      Path target = dst.resolve(i.sha256() + ".qcow2");
      a.pull(listing.images().get(i.sha256()), target, null);
      assertEquals(-1, Files.mismatch(i.file(), target), "bytes of " + i.sha256());
      Qemu.img(dst, "check", target.toString());
    }
    Path top = dst.resolve(delta2.sha256() + ".qcow2");
    Qemu.img(dir, "compare", delta2.file().toString(), top.toString());
    assertTrue(
        Qemu.img(dst, "info", top.toString())
            .contains("backing file: " + delta1.sha256() + ".qcow2"));
  }

  @Test
  void legal_tags_are_registry_tags_and_the_others_annotations() throws Exception {
    artifacts("ns/images").push(List.of(base, delta1, delta2), tags, null);
    RegistryClient c = registry.client("ns/images");
    assertEquals(
        List.of("base", delta1.sha256(), delta2.sha256(), base.sha256(), "top").stream()
            .sorted()
            .toList(),
        c.tags().stream().sorted().toList());
    ImageManifest m = ImageManifest.parse(c.getManifest(delta1.sha256()).bytes(), "test");
    assertEquals(CangaArtifacts.ARTIFACT_TYPE, m.artifactType());
    assertEquals(CangaArtifacts.CONFIG_TYPE, m.config().mediaType());
    assertEquals(
        List.of(CangaArtifacts.LAYER_TYPE),
        m.layers().stream().map(Descriptor::mediaType).toList());
    assertEquals("[\"base+1\",\"" + LONG_TAG + "\"]", m.annotations().get(CangaArtifacts.TAGS));
    assertEquals(base.sha256(), m.annotations().get(CangaArtifacts.PARENT));
    ImageManifest parent = ImageManifest.parse(c.getManifest(base.sha256()).bytes(), "test");
    assertEquals(
        parent.layers().get(0).digest().toString(),
        m.annotations().get(CangaArtifacts.PARENT_LAYER));
    assertNull(parent.annotations().get(CangaArtifacts.PARENT));
  }

  @Test
  void a_second_push_over_a_present_base_sends_only_the_delta() throws Exception {
    CangaArtifacts a = artifacts("ns/images");
    a.push(List.of(base), Map.of("base", base.sha256()), null);
    long uploads = registry.requests("POST", "/v2/ns/images/blobs/uploads/");
    long manifests = registry.requests("PUT", "/v2/ns/images/manifests/\\S+");
    assertEquals(2, uploads, "the base's layer and config");
    List<CangaArtifacts.Pushed> second =
        a.push(List.of(base, delta1), Map.of("base", base.sha256()), null);
    assertFalse(second.get(0).layerUploaded());
    assertTrue(second.get(1).layerUploaded());
    assertEquals(
        2,
        registry.requests("POST", "/v2/ns/images/blobs/uploads/") - uploads,
        "the delta's layer and config only");
    assertEquals(
        1,
        registry.requests("PUT", "/v2/ns/images/manifests/\\S+") - manifests,
        "the delta's manifest only");
    assertEquals(Map.of("base", base.sha256()), a.list().tags());
  }

  @Test
  void a_layer_left_by_an_interrupted_push_is_not_sent_again() throws Exception {
    RegistryClient c = registry.client("ns/images");
    Descriptor left =
        c.pushBlob(
            base.file(), CangaArtifacts.LAYER_TYPE, null); // the push died before its manifest
    long uploads = registry.requests("POST", "/v2/ns/images/blobs/uploads/");
    List<CangaArtifacts.Pushed> pushed = artifacts("ns/images").push(List.of(base), Map.of(), null);
    assertFalse(pushed.get(0).layerUploaded());
    assertEquals(left, pushed.get(0).layer());
    assertEquals(
        1, registry.requests("POST", "/v2/ns/images/blobs/uploads/") - uploads, "the config only");
    Path back = dir.resolve("back.qcow2");
    artifacts("ns/images").pull(base.entry(), back, null);
    assertEquals(-1, Files.mismatch(base.file(), back));
  }

  @Test
  void a_layer_missing_from_the_registry_is_one_line_not_found_and_nothing_is_kept()
      throws Exception {
    CangaArtifacts a = artifacts("ns/images");
    List<CangaArtifacts.Pushed> pushed = a.push(List.of(base), Map.of(), null);
    Digest layer = pushed.get(0).layer().digest();
    HttpClient http = HttpClient.newHttpClient();
    int status =
        http.send(
                HttpRequest.newBuilder(
                        URI.create(
                            "http://127.0.0.1:" + registry.port + "/v2/ns/images/blobs/" + layer))
                    .DELETE()
                    .build(),
                HttpResponse.BodyHandlers.discarding())
            .statusCode();
    assertEquals(202, status);
    Path target = dir.resolve(base.sha256() + ".qcow2");
    OciException e = assertThrows(OciException.class, () -> a.pull(base.entry(), target, null));
    assertEquals(OciException.Kind.NOT_FOUND, e.kind());
    assertEquals(
        "oci://127.0.0.1:"
            + registry.port
            + "/ns/images: blob "
            + layer
            + " not found (HTTP 404, BLOB_UNKNOWN: blob unknown to registry)",
        e.getMessage());
    assertFalse(Files.exists(target));
    assertFalse(Files.exists(dir.resolve(base.sha256() + ".qcow2.part")));
  }

  @Test
  void other_images_in_the_repository_are_ignored() throws Exception {
    CangaArtifacts a = artifacts("ns/mixed");
    a.push(List.of(base), Map.of("base", base.sha256()), null);
    String foreignId = "f".repeat(64);
    for (String tag : List.of("v1", foreignId)) {
      ContainerDisk.export(
          base.file(),
          ContainerDiskTarget.parse(registry.ref("ns/mixed") + ":" + tag),
          CredentialStore.none(),
          java.util.Set.of());
    }
    registry
        .client("ns/mixed")
        .putManifest(
            "idx",
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[]}"
                .getBytes(),
            "application/vnd.oci.image.index.v1+json");
    CangaArtifacts.Listing listing = a.list();
    assertEquals(List.of(base.sha256()), List.copyOf(listing.images().keySet()));
    assertEquals(Map.of("base", base.sha256()), listing.tags());
  }

  @Test
  void a_moved_annotation_tag_follows_the_newest_push() throws Exception {
    CangaArtifacts a = artifacts("ns/images");
    a.push(List.of(base, delta1), Map.of("team/x", base.sha256()), null);
    a.push(List.of(base, delta1), Map.of("team/x", delta1.sha256()), null);
    assertEquals(Map.of("team/x", delta1.sha256()), a.list().tags());
  }

  @Test
  void a_tampered_layer_is_refused_and_nothing_is_kept() throws Exception {
    CangaArtifacts a = artifacts("ns/images");
    List<CangaArtifacts.Pushed> pushed = a.push(List.of(base, delta1), tags, null);
    Path data = registry.blobData(pushed.get(1).layer().digest());
    byte[] bytes = Files.readAllBytes(data);
    bytes[bytes.length / 2] ^= 1;
    Files.write(data, bytes);
    Path target = dir.resolve(delta1.sha256() + ".qcow2");
    OciException e = assertThrows(OciException.class, () -> a.pull(delta1.entry(), target, null));
    assertEquals(OciException.Kind.DIGEST_MISMATCH, e.kind());
    assertFalse(Files.exists(target));
    assertFalse(Files.exists(dir.resolve(delta1.sha256() + ".qcow2.part")));
  }

  @Test
  void a_manifest_whose_parent_is_missing_is_refused_before_any_download() throws Exception {
    RegistryClient c = registry.client("ns/orphans");
    Descriptor layer = c.pushBlob(delta1.file(), CangaArtifacts.LAYER_TYPE, null);
    Descriptor config =
        c.pushBlob(CangaArtifacts.configBytes(delta1.entry()), CangaArtifacts.CONFIG_TYPE);
    Digest absent = Digest.of("a parent never pushed".getBytes());
    byte[] m =
        CangaArtifacts.manifest(delta1, config, layer, absent, List.of(), Instant.now()).toBytes();
    c.putManifest(delta1.sha256(), m, ImageManifest.MEDIA_TYPE);
    Path target = dir.resolve("orphan.qcow2");
    OciException e =
        assertThrows(
            OciException.class, () -> artifacts("ns/orphans").pull(delta1.entry(), target, null));
    assertEquals(OciException.Kind.NOT_FOUND, e.kind());
    assertTrue(
        e.getMessage()
            .contains("its parent " + base.sha256() + " (layer " + absent + ") is missing"),
        e.getMessage());
    assertFalse(Files.exists(target));
    OciException refused =
        assertThrows(
            OciException.class, () -> artifacts("ns/other").push(List.of(delta1), Map.of(), null));
    assertEquals(OciException.Kind.NOT_FOUND, refused.kind());
  }

  @Test
  void skopeo_reads_our_manifests() throws Exception {
    artifacts("ns/images").push(List.of(base, delta1, delta2), tags, null);
    RegistryClient c = registry.client("ns/images");
    for (String tag : List.of(delta2.sha256(), "top")) {
      String raw =
          Qemu.run(
              dir,
              "skopeo",
              "inspect",
              "--raw",
              "--tls-verify=false",
              "docker://127.0.0.1:" + registry.port + "/ns/images:" + tag);
      JsonNode parsed = RegistryClient.JSON.readTree(raw);
      assertEquals(RegistryClient.JSON.readTree(c.getManifest(delta2.sha256()).bytes()), parsed);
      assertEquals(CangaArtifacts.ARTIFACT_TYPE, parsed.path("artifactType").asText());
      assertEquals(
          delta2.sha256(), parsed.path("annotations").path(CangaArtifacts.SHA256).asText());
    }
  }
}
