package dev.qcow2.tools.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Where skopeo and podman find credentials, and in which order. */
@Timeout(30)
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class CredentialStoreTest {
  @TempDir Path dir;

  private static String auth(String user, String secret) {
    return Base64.getEncoder().encodeToString((user + ":" + secret).getBytes());
  }

  private Path file(String rel, String json) throws Exception {
    Path p = dir.resolve(rel);
    Files.createDirectories(p.getParent());
    Files.writeString(p, json);
    return p;
  }

  @Test
  void registry_auth_file_alone_is_read_when_set() throws Exception {
    Path only =
        file("only.json", "{\"auths\":{\"reg:5000\":{\"auth\":\"" + auth("a", "1") + "\"}}}");
    file(
        "home/.docker/config.json",
        "{\"auths\":{\"other\":{\"auth\":\"" + auth("b", "2") + "\"}}}");
    CredentialStore s =
        new CredentialStore(Map.of("REGISTRY_AUTH_FILE", only.toString()), dir.resolve("home"));
    assertEquals(new Credentials("a", "1"), s.find("reg:5000", "ns/repo"));
    assertNull(s.find("other", "ns/repo"));
  }

  @Test
  void runtime_auth_json_comes_before_docker_config() throws Exception {
    file(
        "run/containers/auth.json",
        "{\"auths\":{\"reg\":{\"auth\":\"" + auth("podman", "p") + "\"}}}");
    file(
        "home/.docker/config.json",
        "{\"auths\":{\"reg\":{\"auth\":\""
            + auth("docker", "d")
            + "\"},"
            + "\"https://legacy.example/v1/\":{\"auth\":\""
            + auth("old", "o")
            + "\"}}}");
    CredentialStore s =
        new CredentialStore(
            Map.of("XDG_RUNTIME_DIR", dir.resolve("run").toString()), dir.resolve("home"));
    assertEquals(new Credentials("podman", "p"), s.find("reg", "ns/repo"));
    assertEquals(
        new Credentials("old", "o"),
        s.find("legacy.example", "ns/repo"),
        "scheme and /v1/ of docker's keys ignored");
    assertNull(s.find("unknown", "ns/repo"));
  }

  @Test
  void the_most_specific_key_wins() throws Exception {
    Path f =
        file(
            "a.json",
            "{\"auths\":{\"reg\":{\"auth\":\""
                + auth("host", "h")
                + "\"},"
                + "\"reg/team\":{\"auth\":\""
                + auth("team", "t")
                + "\"}}}");
    CredentialStore s = new CredentialStore(Map.of("REGISTRY_AUTH_FILE", f.toString()), dir);
    assertEquals(new Credentials("team", "t"), s.find("reg", "team/images"));
    assertEquals(new Credentials("host", "h"), s.find("reg", "other/images"));
  }

  @Test
  void credential_helpers_are_asked_on_path() throws Exception {
    Path bin = Files.createDirectories(dir.resolve("bin"));
    Path helper = bin.resolve("docker-credential-fake");
    // Answers for reg.example only, as real helpers do: "not found" and exit 1 otherwise.
    Files.writeString(
        helper,
        "#!/bin/sh\nread host\nif [ \"$host\" = reg.example ]; then\n"
            + "  echo '{\"ServerURL\":\"reg.example\",\"Username\":\"helped\",\"Secret\":\"tok\"}'\n"
            + "else echo 'credentials not found in native keychain'; exit 1; fi\n");
    Files.setPosixFilePermissions(helper, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path f = file("h.json", "{\"credHelpers\":{\"reg.example\":\"fake\"},\"credsStore\":\"fake\"}");
    CredentialStore s =
        new CredentialStore(
            Map.of("REGISTRY_AUTH_FILE", f.toString(), "PATH", bin.toString()), dir);
    assertEquals(new Credentials("helped", "tok"), s.find("reg.example", "ns/repo"));
    assertNull(s.find("elsewhere", "ns/repo"), "credsStore asked, knows nothing");
    Path g = file("g.json", "{\"credHelpers\":{\"reg.example\":\"absent\"}}");
    CredentialStore t =
        new CredentialStore(
            Map.of("REGISTRY_AUTH_FILE", g.toString(), "PATH", bin.toString()), dir);
    OciException e = assertThrows(OciException.class, () -> t.find("reg.example", "ns/repo"));
    assertEquals(
        "credential helper docker-credential-absent (for reg.example) is not on PATH",
        e.getMessage());
  }

  @Test
  void a_malformed_file_is_one_line_invalid() throws Exception {
    Path f = file("bad.json", "{\"auths\":");
    CredentialStore s = new CredentialStore(Map.of("REGISTRY_AUTH_FILE", f.toString()), dir);
    OciException e = assertThrows(OciException.class, () -> s.find("reg", "ns/repo"));
    assertEquals(OciException.Kind.INVALID, e.kind());
    Path g = file("notbase64.json", "{\"auths\":{\"reg\":{\"auth\":\"***\"}}}");
    CredentialStore t = new CredentialStore(Map.of("REGISTRY_AUTH_FILE", g.toString()), dir);
    assertEquals(
        g + ": auths.reg.auth is not base64",
        assertThrows(OciException.class, () -> t.find("reg", "r")).getMessage());
  }
}
