package dev.qcow2.tools.canga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.tools.Cli;
import dev.qcow2.tools.oci.DockerRegistry;
import dev.qcow2.tools.repo.RepositoryConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code oci://} remotes of a docker-registry behind htpasswd authentication, credentials read from
 * the auth.json that {@code REGISTRY_AUTH_FILE} names; and the insecure registries of config.yaml.
 */
class OciRemoteAuthTest {
  @TempDir static Path serverDir;
  static DockerRegistry registry;

  @TempDir Path dir;

  @BeforeAll
  static void startRegistry() throws Exception {
    registry = DockerRegistry.start(serverDir.resolve("auth"), "builder", "s3cret-pass");
  }

  @AfterAll
  static void stopRegistry() throws Exception {
    if (registry != null) {
      registry.close();
    }
  }

  Map<String, String> authEnv(String name, String user, String password) throws Exception {
    Path file = dir.resolve(name + "-auth.json");
    String auth = Base64.getEncoder().encodeToString((user + ":" + password).getBytes());
    Files.writeString(
        file, "{\"auths\":{\"127.0.0.1:" + registry.port + "\":{\"auth\":\"" + auth + "\"}}}");
    return Map.of("REGISTRY_AUTH_FILE", file.toString(), "HOME", dir.toString());
  }

  @Test
  @Timeout(120)
  void a_chain_goes_through_a_registry_with_htpasswd_and_wrong_credentials_write_nothing()
      throws Exception {
    String url = "oci://127.0.0.1:" + registry.port + "/team/images";
    Canga a = OciRemoteTest.host(dir, "a", url);
    S3RemoteTest.Chain ch = S3RemoteTest.chain(a);
    Map<String, String> good = authEnv("good", "builder", "s3cret-pass");
    OciRemoteTest.ok(a, good, "push", "grand", "oci");

    Canga b = OciRemoteTest.host(dir, "b", url);
    Cli.Result denied = OciRemoteTest.run(b, authEnv("bad", "builder", "wrong"), "fetch", "oci");
    OciRemoteTest.assertOneLineError(
        denied,
        "oci://127.0.0.1:[0-9]+/team/images: the registry refused the "
            + "credentials for tag list \\(HTTP 401[^\n]*");
    assertEquals(List.of(), OciRemoteTest.cached(b));
    Cli.Result anonymous =
        OciRemoteTest.run(
            b,
            Map.of(
                "REGISTRY_AUTH_FILE", dir.resolve("none.json").toString(), "HOME", dir.toString()),
            "fetch",
            "oci");
    OciRemoteTest.assertOneLineError(
        anonymous,
        "oci://127.0.0.1:[0-9]+/team/images: the registry asks for "
            + "credentials and none are configured [^\n]*");
    assertEquals(List.of(), OciRemoteTest.cached(b));

    OciRemoteTest.ok(b, good, "fetch", "oci");
    OciRemoteTest.ok(b, good, "pull", "oci:grand");
    for (int i = 0; i < 3; i++) {
      Path original = List.of(ch.base(), ch.child(), ch.grand()).get(i);
      String sha = List.of(ch.baseSha(), ch.childSha(), ch.grandSha()).get(i);
      b.assertStoredImageSound(b.repo("oci").resolve(sha + ".qcow2"), original);
    }
  }

  @Test
  @Timeout(30)
  void insecure_registries_come_from_the_top_level_list_and_from_insecure_true() throws Exception {
    Path config = dir.resolve("config.yaml");
    Files.writeString(
        config,
        "default_repo: default\ninsecure_registries:\n- registry.lan:5000\nrepos:\n"
            + "    default:\n        type: local\n        path: "
            + dir.resolve("default")
            + "\n"
            + "    lab:\n        type: remote\n        path: "
            + dir.resolve("lab")
            + "\n"
            + "        url: oci://lab.example:8080/ns/repo\n        insecure: true\n"
            + "    plain:\n        type: remote\n        path: "
            + dir.resolve("plain")
            + "\n"
            + "        url: oci://quay.io/ns/repo\n");
    RepositoryConfig c = RepositoryConfig.load(config, dir);
    assertEquals(
        Set.of("registry.lan:5000", "lab.example:8080"), c.repo("lab").insecureRegistries());
    assertEquals(Set.of("registry.lan:5000"), c.repo("plain").insecureRegistries());
    assertTrue(c.repo("default").insecureRegistries().contains("registry.lan:5000"));
  }
}
