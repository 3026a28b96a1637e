package dev.qcow2.tools.oci;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** distribution behind htpasswd (Basic challenges), with credentials from an auth.json. */
@Timeout(120)
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class HtpasswdRegistryTest {
  @TempDir static Path dir;
  static DockerRegistry registry;

  @BeforeAll
  static void start() throws Exception {
    registry = DockerRegistry.start(dir.resolve("registry"), "canga", "s3cret");
  }

  @AfterAll
  static void stop() throws Exception {
    registry.close();
  }

  @Test
  void the_right_credentials_push_and_pull() throws Exception {
    RegistryClient c = registry.client("team/images", dir.resolve("good.json"), "canga", "s3cret");
    Descriptor config = c.pushBlob("{\"x\":1}".getBytes(), "application/vnd.test+json");
    c.putManifest(
        "v1",
        new ImageManifest(null, config, List.of(), Map.of()).toBytes(),
        ImageManifest.MEDIA_TYPE);
    assertEquals(List.of("v1"), c.tags());
    assertArrayEquals("{\"x\":1}".getBytes(), c.fetchBlob(config));
  }

  @Test
  void a_chunked_upload_carries_the_credentials_on_every_request() throws Exception {
    Path auth = dir.resolve("chunks.json");
    registry.client("team/images", auth, "canga", "s3cret"); // writes the auth file
    RegistryClient c =
        new RegistryClient(
            registry.ref("team/images"),
            new CredentialStore(Map.of("REGISTRY_AUTH_FILE", auth.toString()), dir),
            Set.of(),
            Duration.ofSeconds(30),
            64 << 10,
            100);
    byte[] data = new byte[200_000];
    new Random(7).nextBytes(data);
    Path file = dir.resolve("chunks.bin");
    Files.write(file, data);
    Descriptor d = c.pushBlob(file, "application/octet-stream", null);
    assertEquals(Digest.of(data), d.digest());
    Path back = dir.resolve("chunks-back.bin");
    c.pullBlob(d, back, null);
    assertArrayEquals(data, Files.readAllBytes(back));
  }

  @Test
  void wrong_credentials_are_one_line_unauthorized() throws Exception {
    RegistryClient c = registry.client("team/images", dir.resolve("bad.json"), "canga", "wrong");
    OciException e = assertThrows(OciException.class, c::tags);
    assertEquals(OciException.Kind.UNAUTHORIZED, e.kind());
    assertEquals(
        "oci://127.0.0.1:"
            + registry.port
            + "/team/images: the registry refused the credentials for tag list "
            + "(HTTP 401, UNAUTHORIZED: authentication required)",
        e.getMessage());
    e =
        assertThrows(
            OciException.class, () -> c.pushBlob("y".getBytes(), "application/octet-stream"));
    assertEquals(OciException.Kind.UNAUTHORIZED, e.kind());
  }

  @Test
  void no_credentials_are_one_line_unauthorized() {
    OciException e = assertThrows(OciException.class, () -> registry.client("team/images").tags());
    assertEquals(OciException.Kind.UNAUTHORIZED, e.kind());
    assertEquals(
        "oci://127.0.0.1:"
            + registry.port
            + "/team/images: the registry asks for credentials and none are configured"
            + " (auth.json or ~/.docker/config.json)",
        e.getMessage());
  }
}
