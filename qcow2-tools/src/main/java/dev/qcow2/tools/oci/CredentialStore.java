package dev.qcow2.tools.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Registry credentials found where skopeo and podman look (containers-auth.json(5)): {@code
 * REGISTRY_AUTH_FILE} alone when set; else {@code ${XDG_RUNTIME_DIR}/containers/auth.json}, {@code
 * ${XDG_CONFIG_HOME:-~/.config}/containers/auth.json}, then {@code ~/.docker/config.json}. The
 * first file that knows the registry answers.
 *
 * <p>In a file, {@code credHelpers.<registry>} names a helper, else an {@code auths} entry gives a
 * base64 {@code user:secret} in {@code auth} (the most specific key wins: {@code host/ns/repo}
 * before {@code host}), else {@code credsStore} names a helper for every registry. A helper is
 * {@code docker-credential-NAME get}, found on {@code PATH}, given the registry on standard input
 * and answering {@code {"Username":..,"Secret":..}}; it runs with a time limit and its output is
 * bounded.
 */
public final class CredentialStore {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long HELPER_SECONDS = 30;
  private static final int HELPER_OUTPUT_LIMIT = 1 << 20;
  private static final long FILE_LIMIT = 16L << 20;

  private final Map<String, String> env;
  private final Path home;

  /**
   * @param env the environment to read ({@code REGISTRY_AUTH_FILE}, {@code XDG_RUNTIME_DIR}, {@code
   *     XDG_CONFIG_HOME}, {@code PATH})
   * @param home the user's home folder
   */
  public CredentialStore(Map<String, String> env, Path home) {
    this.env = Map.copyOf(env);
    this.home = home;
  }

  /** The process environment and {@code user.home}. */
  public static CredentialStore fromEnvironment() {
    return new CredentialStore(System.getenv(), Path.of(System.getProperty("user.home")));
  }

  /** A store that knows no credentials (anonymous access). */
  public static CredentialStore none() {
    return new CredentialStore(
        Map.of("REGISTRY_AUTH_FILE", "/nonexistent/auth.json"), Path.of("/nonexistent"));
  }

  /** The files searched, in order. */
  List<Path> files() {
    String explicit = env.get("REGISTRY_AUTH_FILE");
    if (explicit != null && !explicit.isEmpty()) {
      return List.of(Path.of(explicit));
    }
    List<Path> list = new ArrayList<>();
    String runtime = env.get("XDG_RUNTIME_DIR");
    if (runtime != null && !runtime.isEmpty()) {
      list.add(Path.of(runtime, "containers", "auth.json"));
    }
    String config = env.get("XDG_CONFIG_HOME");
    list.add(
        config != null && !config.isEmpty()
            ? Path.of(config, "containers", "auth.json")
            : home.resolve(".config/containers/auth.json"));
    list.add(home.resolve(".docker/config.json"));
    return list;
  }

  /**
   * The credentials for {@code repository} in {@code registry}, or null when no file knows it.
   *
   * @throws OciException if a file is not valid JSON or a helper fails
   */
  public Credentials find(String registry, String repository) throws OciException {
    for (Path file : files()) {
      JsonNode root = read(file);
      if (root == null) {
        continue;
      }
      JsonNode helpers = root.path("credHelpers");
      if (helpers.hasNonNull(registry)) {
        return helper(helpers.get(registry).asText(), registry);
      }
      Credentials c = fromAuths(root.path("auths"), registry, repository, file);
      if (c != null) {
        return c;
      }
      if (root.hasNonNull("credsStore")) {
        Credentials s = helper(root.get("credsStore").asText(), registry);
        if (s != null) {
          return s;
        }
      }
    }
    return null;
  }

  private static JsonNode read(Path file) throws OciException {
    try {
      if (!Files.isRegularFile(file)) {
        return null;
      }
      if (Files.size(file) > FILE_LIMIT) {
        throw new OciException(
            OciException.Kind.INVALID, file + ": credentials file larger than 16 MiB");
      }
      JsonNode root = JSON.readTree(file.toFile());
      if (root == null || !root.isObject()) {
        throw new OciException(OciException.Kind.INVALID, file + ": not a JSON object");
      }
      return root;
    } catch (OciException e) {
      throw e;
    } catch (IOException e) {
      throw new OciException(
          OciException.Kind.INVALID, file + ": not a credentials file: " + e.getMessage(), e);
    }
  }

  /** The {@code auths} entry for the most specific key: host/ns/repo, host/ns, host. */
  private static Credentials fromAuths(
      JsonNode auths, String registry, String repository, Path file) throws OciException {
    if (!auths.isObject()) {
      return null;
    }
    List<String> keys = new ArrayList<>();
    String path = registry + "/" + repository;
    while (true) {
      keys.add(path);
      int slash = path.lastIndexOf('/');
      if (slash < 0) {
        break;
      }
      path = path.substring(0, slash);
    }
    for (String key : keys) {
      for (var e : auths.properties()) {
        if (normalize(e.getKey()).equals(key)) {
          return decode(e.getValue(), e.getKey(), file);
        }
      }
    }
    return null;
  }

  /**
   * Docker's legacy keys carry a scheme and a path ({@code https://host/v1/}): the host alone
   * counts.
   */
  private static String normalize(String key) {
    int scheme = key.indexOf("://");
    if (scheme < 0) {
      return key;
    }
    String rest = key.substring(scheme + 3);
    int slash = rest.indexOf('/');
    return slash < 0 ? rest : rest.substring(0, slash);
  }

  private static Credentials decode(JsonNode entry, String key, Path file) throws OciException {
    String auth = entry.path("auth").asText("");
    if (auth.isEmpty()) {
      if (entry.hasNonNull("username") && entry.hasNonNull("password")) {
        return new Credentials(entry.get("username").asText(), entry.get("password").asText());
      }
      return null;
    }
    String plain;
    try {
      plain = new String(Base64.getDecoder().decode(auth.trim()), StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      throw new OciException(
          OciException.Kind.INVALID, file + ": auths." + key + ".auth is not base64");
    }
    int colon = plain.indexOf(':');
    if (colon < 0) {
      throw new OciException(
          OciException.Kind.INVALID,
          file + ": auths." + key + ".auth is not base64 of user:secret");
    }
    return new Credentials(plain.substring(0, colon), plain.substring(colon + 1));
  }

  /**
   * Runs {@code docker-credential-NAME get}; null when the helper knows no credentials for the
   * registry.
   */
  Credentials helper(String name, String registry) throws OciException {
    if (!name.matches("[A-Za-z0-9._-]+")) {
      throw new OciException(
          OciException.Kind.INVALID, "credential helper name '" + name + "' is not a plain name");
    }
    Path exe = onPath("docker-credential-" + name);
    if (exe == null) {
      throw new OciException(
          OciException.Kind.UNAUTHORIZED,
          "credential helper docker-credential-" + name + " (for " + registry + ") is not on PATH");
    }
    try {
      Process p =
          new ProcessBuilder(exe.toString(), "get")
              .redirectError(ProcessBuilder.Redirect.DISCARD)
              .start();
      try (OutputStream in = p.getOutputStream()) {
        in.write(registry.getBytes(StandardCharsets.UTF_8));
      }
      byte[] out = readBounded(p.getInputStream());
      if (!p.waitFor(HELPER_SECONDS, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new OciException(
            OciException.Kind.UNAVAILABLE,
            "credential helper " + exe + " did not answer in " + HELPER_SECONDS + " s");
      }
      String text = new String(out, StandardCharsets.UTF_8).trim();
      if (p.exitValue() != 0) {
        // Helpers say "credentials not found in native keychain" and exit 1 for an unknown
        // registry.
        if (text.toLowerCase(Locale.ROOT).contains("not found")) {
          return null;
        }
        throw new OciException(
            OciException.Kind.UNAUTHORIZED,
            "credential helper "
                + exe
                + " failed for "
                + registry
                + ": "
                + (text.isEmpty()
                    ? "exit status " + p.exitValue()
                    : text.lines().findFirst().orElse("")));
      }
      JsonNode answer = JSON.readTree(text);
      if (answer == null || !answer.hasNonNull("Username") || !answer.hasNonNull("Secret")) {
        throw new OciException(
            OciException.Kind.INVALID,
            "credential helper " + exe + " gave no Username and Secret for " + registry);
      }
      return new Credentials(answer.get("Username").asText(), answer.get("Secret").asText());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new OciException(OciException.Kind.UNAVAILABLE, "interrupted waiting for " + exe, e);
    } catch (OciException e) {
      throw e;
    } catch (IOException e) {
      throw new OciException(
          OciException.Kind.INVALID,
          "credential helper " + exe + " for " + registry + ": " + e.getMessage(),
          e);
    }
  }

  private Path onPath(String exe) {
    String path = env.getOrDefault("PATH", "/usr/local/bin:/usr/bin:/bin");
    for (String dir : path.split(":")) {
      if (!dir.isEmpty()) {
        Path p = Path.of(dir, exe);
        if (Files.isExecutable(p)) {
          return p;
        }
      }
    }
    return null;
  }

  private static byte[] readBounded(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    int n;
    while ((n = in.read(buf)) > 0) {
      if (out.size() + n > HELPER_OUTPUT_LIMIT) {
        throw new IOException("answer longer than " + HELPER_OUTPUT_LIMIT + " bytes");
      }
      out.write(buf, 0, n);
    }
    return out.toByteArray();
  }
}
