package dev.qcow2.tools.oci;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The client against a real distribution registry on loopback, without authentication. */
@Timeout(120)
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class RegistryClientTest {
  @TempDir Path dir;
  DockerRegistry registry;
  RegistryClient client;

  @BeforeEach
  void start() throws Exception {
    registry = DockerRegistry.start(dir.resolve("registry"));
    // Small chunks so that a few hundred KiB take the chunked path.
    client =
        new RegistryClient(
            registry.ref("ns/repo"),
            CredentialStore.none(),
            Set.of(),
            Duration.ofSeconds(30),
            64 << 10,
            2);
  }

  @AfterEach
  void stop() throws Exception {
    registry.close();
  }

  private Path randomFile(String name, int size, long seed) throws Exception {
    byte[] b = new byte[size];
    new Random(seed).nextBytes(b);
    Path p = dir.resolve(name);
    Files.write(p, b);
    return p;
  }

  private static Digest sha256sum(Path dir, Path file) {
    return new Digest(Qemu.run(dir, "sha256sum", file.toString()).substring(0, 64));
  }

  @Test
  void a_small_file_goes_in_one_put_and_comes_back_equal() throws Exception {
    Path file = randomFile("small.bin", 10_000, 1);
    Descriptor d = client.pushBlob(file, "application/octet-stream", null);
    assertEquals(sha256sum(dir, file), d.digest());
    assertEquals(10_000, d.size());
    assertEquals(0, registry.requests("PATCH", "/v2/ns/repo/blobs/uploads/\\S*"));
    assertEquals(1, registry.requests("PUT", "/v2/ns/repo/blobs/uploads/\\S*"));
    Path back = dir.resolve("back.bin");
    client.pullBlob(d, back, null);
    assertEquals(-1, Files.mismatch(file, back));
  }

  @Test
  void a_large_file_goes_in_chunks_with_its_digest_computed_on_the_way() throws Exception {
    Path file = randomFile("large.bin", 300_000, 2);
    List<Long> progress = new ArrayList<>();
    Descriptor d = client.pushBlob(file, "application/octet-stream", progress::add);
    assertEquals(sha256sum(dir, file), d.digest());
    assertEquals(
        5,
        registry.requests("PATCH", "/v2/ns/repo/blobs/uploads/\\S*"),
        "300000 bytes in 64 KiB chunks");
    assertEquals(300_000L, progress.get(progress.size() - 1));
    assertTrue(client.blobExists(d.digest()));
    Path back = dir.resolve("back.bin");
    client.pullBlob(d, back, null);
    assertEquals(-1, Files.mismatch(file, back));
  }

  @Test
  void bytes_the_registry_has_are_not_sent_again() throws Exception {
    byte[] config = "{\"a\":1}".getBytes();
    Descriptor first = client.pushBlob(config, "application/json");
    Descriptor second = client.pushBlob(config, "application/json");
    assertEquals(first, second);
    assertEquals(1, registry.requests("POST", "/v2/ns/repo/blobs/uploads/"));
    assertArrayEquals(config, client.fetchBlob(first));
  }

  @Test
  void a_blob_of_another_repository_is_mounted_without_being_sent() throws Exception {
    Descriptor d =
        client.pushBlob(randomFile("shared.bin", 5_000, 4), "application/octet-stream", null);
    RegistryClient other = registry.client("ns/other");
    assertFalse(other.blobExists(d.digest()));
    assertTrue(other.mountBlob(d.digest(), "ns/repo"));
    assertTrue(other.blobExists(d.digest()));
    assertEquals(1, registry.requests("POST", "/v2/ns/repo/blobs/uploads/"));
    assertEquals(
        0,
        registry.requests("PUT", "/v2/ns/other/blobs/uploads/\\S*"),
        "no bytes sent to ns/other");
    Descriptor absent = Descriptor.of("application/octet-stream", "nowhere".getBytes());
    assertFalse(other.mountBlob(absent.digest(), "ns/repo"));
    assertEquals(
        1,
        registry.requests("DELETE", "/v2/ns/other/blobs/uploads/\\S*"),
        "the fallback session cancelled");
  }

  @Test
  void a_tampered_blob_is_refused_and_nothing_is_kept() throws Exception {
    Path file = randomFile("blob.bin", 200_000, 3);
    Descriptor d = client.pushBlob(file, "application/octet-stream", null);
    byte[] bytes = Files.readAllBytes(registry.blobData(d.digest()));
    bytes[1234] ^= 0x55;
    Files.write(registry.blobData(d.digest()), bytes);
    Path target = dir.resolve("pulled.bin");
    OciException e = assertThrows(OciException.class, () -> client.pullBlob(d, target, null));
    assertEquals(OciException.Kind.DIGEST_MISMATCH, e.kind());
    assertTrue(
        e.getMessage().contains(d.digest().toString()) && !e.getMessage().contains("\n"),
        e.getMessage());
    assertFalse(Files.exists(target));
    assertFalse(Files.exists(dir.resolve("pulled.bin.part")));
  }

  @Test
  void a_blob_longer_than_its_descriptor_says_is_refused() throws Exception {
    Descriptor d = client.pushBlob("0123456789".getBytes(), "application/octet-stream");
    Descriptor shorter = new Descriptor(d.mediaType(), d.digest(), 5);
    Path target = dir.resolve("short.bin");
    OciException e = assertThrows(OciException.class, () -> client.pullBlob(shorter, target, null));
    assertEquals(OciException.Kind.DIGEST_MISMATCH, e.kind());
    assertFalse(Files.exists(target));
    assertEquals(
        OciException.Kind.DIGEST_MISMATCH,
        assertThrows(OciException.class, () -> client.fetchBlob(shorter)).kind());
  }

  @Test
  void manifests_come_back_byte_for_byte_under_tag_and_digest() throws Exception {
    Descriptor config = client.pushBlob("{}".getBytes(), "application/vnd.test.config+json");
    Descriptor layer = client.pushBlob("layer".getBytes(), "application/vnd.test.layer");
    byte[] m =
        new ImageManifest("application/vnd.test", config, List.of(layer), Map.of("k", "v"))
            .toBytes();
    Digest digest = client.putManifest("v1", m, ImageManifest.MEDIA_TYPE);
    RegistryClient.Manifest byTag = client.getManifest("v1");
    assertArrayEquals(m, byTag.bytes());
    assertEquals(digest, byTag.digest());
    assertEquals(ImageManifest.MEDIA_TYPE, byTag.mediaType());
    assertArrayEquals(m, client.getManifest(digest.toString()).bytes());
    assertEquals(digest, client.manifestDigest("v1"));
    assertEquals(null, client.manifestDigest("v2"));
    ImageManifest parsed = ImageManifest.parse(byTag.bytes(), "test");
    assertEquals(List.of(layer), parsed.layers());
    assertEquals("v", parsed.annotations().get("k"));
  }

  @Test
  void every_tag_is_listed() throws Exception {
    Descriptor config = client.pushBlob("{}".getBytes(), "application/vnd.test.config+json");
    byte[] m = new ImageManifest(null, config, List.of(), Map.of()).toBytes();
    List<String> tags = List.of("a", "b", "c", "d", "e");
    for (String t : tags) {
      client.putManifest(t, m, ImageManifest.MEDIA_TYPE);
    }
    assertEquals(tags, client.tags().stream().sorted().toList());
    // distribution 2.8 ignores n= on tag lists (pages are followed in FakeRegistryTest).
  }

  @Test
  void a_missing_repository_manifest_or_blob_is_one_line_not_found() throws Exception {
    RegistryClient none = registry.client("ns/none");
    OciException e = assertThrows(OciException.class, none::tags);
    assertEquals(OciException.Kind.NOT_FOUND, e.kind());
    assertEquals(
        "oci://127.0.0.1:"
            + registry.port
            + "/ns/none: no such repository (HTTP 404, NAME_UNKNOWN: "
            + "repository name not known to registry)",
        e.getMessage());
    client.pushBlob("x".getBytes(), "application/octet-stream");
    e = assertThrows(OciException.class, () -> client.getManifest("nothere"));
    assertEquals(OciException.Kind.NOT_FOUND, e.kind());
    assertTrue(e.getMessage().contains("manifest nothere not found"), e.getMessage());
    Descriptor missing = Descriptor.of("application/octet-stream", "never pushed".getBytes());
    assertFalse(client.blobExists(missing.digest()));
    Path target = dir.resolve("missing.bin");
    e = assertThrows(OciException.class, () -> client.pullBlob(missing, target, null));
    assertEquals(OciException.Kind.NOT_FOUND, e.kind());
    assertFalse(Files.exists(target));
  }

  @Test
  void an_unreachable_registry_is_one_line_unavailable() throws Exception {
    registry.close();
    RegistryClient c =
        new RegistryClient(
            registry.ref("ns/repo"),
            CredentialStore.none(),
            Set.of(),
            Duration.ofSeconds(5),
            1 << 20,
            100);
    OciException e = assertThrows(OciException.class, c::tags);
    assertEquals(OciException.Kind.UNAVAILABLE, e.kind());
    assertTrue(
        e.getMessage().startsWith("oci://127.0.0.1:" + registry.port + "/ns/repo: cannot reach"),
        e.getMessage());
  }
}
