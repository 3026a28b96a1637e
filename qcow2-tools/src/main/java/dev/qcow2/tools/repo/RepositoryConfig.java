package dev.qcow2.tools.repo;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Cangallo's {@code ~/.cangallo/config.yaml}: {@code default_repo} and {@code repos}, a mapping of
 * names to {@code type} ({@code local} or {@code remote}), {@code path} (the folder, or the local
 * cache of a remote) and {@code url}. The order of {@code repos} is the search order and the order
 * of {@code list}. Immutable once loaded.
 *
 * <p>The folder is {@code $CANGALLO_HOME}, else the {@code cangallo.home} system property, else
 * {@code $HOME/.cangallo}; {@code --config FILE} names the file itself. A missing file is created
 * with one local repository, {@code default}, exactly as Cangallo writes it when the folder is
 * {@code ~/.cangallo}, with an absolute path otherwise. In {@code path}, {@code ~} is the home
 * folder and a relative path is taken from the configuration file's folder.
 */
public final class RepositoryConfig {
  static final String DEFAULT_CONFIG =
      """
      default_repo: default
      repos:
          default:
              type: local
              path: ~/.cangallo/default
      """;

  /** One {@code repos} entry. */
  public record RepoSettings(
      String name, String type, Path path, String url, Set<String> insecureRegistries) {
    public RepoSettings {
      insecureRegistries = insecureRegistries == null ? Set.of() : Set.copyOf(insecureRegistries);
    }

    public RepoSettings(String name, String type, Path path, String url) {
      this(name, type, path, url, Set.of());
    }

    /** Only the literal type {@code remote} enables {@code fetch}, as in Cangallo. */
    public boolean isRemote() {
      return "remote".equals(type);
    }
  }

  private final Path file;
  private final String defaultRepo;
  private final Map<String, RepoSettings> repos;

  private dev.qcow2.CompressionType compressionType = dev.qcow2.CompressionType.ZSTD;
  private Path cacheDir;
  private int cacheMaxDays = 7;
  private String proxy;

  private RepositoryConfig(Path file, String defaultRepo, Map<String, RepoSettings> repos) {
    this.file = file;
    this.defaultRepo = defaultRepo;
    this.repos = repos;
  }

  /**
   * The configuration folder from the environment: CANGALLO_HOME, cangallo.home, $HOME/.cangallo.
   */
  public static Path defaultFile(Map<String, String> env) {
    String home = env.get("CANGALLO_HOME");
    if (home == null || home.isEmpty()) {
      home = System.getProperty("cangallo.home");
    }
    Path dir = home == null || home.isEmpty() ? userHome(env).resolve(".cangallo") : Path.of(home);
    return dir.resolve("config.yaml");
  }

  /** $HOME, as Cangallo uses it; the JVM's user.home only when HOME is unset. */
  public static Path userHome(Map<String, String> env) {
    String home = env.get("HOME");
    return Path.of(home == null || home.isEmpty() ? System.getProperty("user.home") : home);
  }

  /** Loads {@code file}, creating it (and the default repository folder) if missing. */
  public static RepositoryConfig load(Path file, Path userHome) throws IOException {
    Path abs = file.toAbsolutePath();
    Path dir = abs.getParent();
    Files.createDirectories(dir);
    if (!Files.exists(abs)) {
      String text =
          dir.equals(userHome.toAbsolutePath().resolve(".cangallo"))
              ? DEFAULT_CONFIG
              : DEFAULT_CONFIG.replace(
                  "~/.cangallo/default", quotePath(dir.resolve("default").toString()));
      IndexWriter.write(abs, text);
    }
    JsonNode root = PsychYaml.parse(Files.readString(abs, StandardCharsets.UTF_8));
    JsonNode reposNode = root.get("repos");
    if (reposNode == null || !reposNode.isObject()) {
      throw new IllegalStateException("Configuration malformed, no 'repos'");
    }
    Set<String> insecure = insecureRegistries(root.get("insecure_registries"));
    Map<String, RepoSettings> repos = new java.util.LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> e : reposNode.properties()) {
      JsonNode r = e.getValue();
      String path = text(r, "path");
      String url = text(r, "url");
      repos.put(
          e.getKey(),
          new RepoSettings(
              e.getKey(),
              text(r, "type"),
              path == null ? null : expand(path, userHome, dir),
              url,
              insecureFor(insecure, r, url)));
    }
    String def = text(root, "default_repo");
    RepositoryConfig config =
        new RepositoryConfig(
            abs, def == null ? "default" : def, Collections.unmodifiableMap(repos));
    String cache = text(root, "cache");
    config.cacheDir = cache != null ? expand(cache, userHome, dir) : dir.resolve("cache");
    String maxDays = text(root, "cache_max_days");
    if (maxDays != null) {
      try {
        config.cacheMaxDays = Integer.parseInt(maxDays.trim());
      } catch (NumberFormatException e) {
        throw new IllegalStateException(
            "Configuration malformed, cache_max_days must be a number of days, not '"
                + maxDays
                + "'");
      }
    }
    config.proxy = text(root, "proxy");
    String compression = text(root, "compression_type");
    if (compression != null) {
      config.compressionType =
          switch (compression) {
            case "zlib" -> dev.qcow2.CompressionType.ZLIB;
            case "zstd" -> dev.qcow2.CompressionType.ZSTD;
            default ->
                throw new IllegalStateException(
                    "Configuration malformed, compression_type must be zlib or zstd, not '"
                        + compression
                        + "'");
          };
    }
    if (repos.containsKey(config.defaultRepo) && repos.get(config.defaultRepo).path() != null) {
      Files.createDirectories(repos.get(config.defaultRepo).path());
    }
    return config;
  }

  /**
   * The registries reached over plain HTTP (our addition; Cangallo ignores the keys): the top-level
   * list {@code insecure_registries} ({@code host} or {@code host:port}), plus the registry of a
   * repository with {@code insecure: true}.
   */
  private static Set<String> insecureRegistries(JsonNode list) {
    Set<String> set = new java.util.LinkedHashSet<>();
    if (list == null || list.isNull()) {
      return set;
    }
    if (!list.isArray()) {
      throw new IllegalStateException(
          "Configuration malformed, insecure_registries must be a list of hosts");
    }
    list.forEach(h -> set.add(h.asText()));
    return set;
  }

  private static Set<String> insecureFor(Set<String> all, JsonNode repo, String url) {
    if (!"true".equals(text(repo, "insecure")) || url == null || !url.startsWith("oci://")) {
      return all;
    }
    Set<String> set = new java.util.LinkedHashSet<>(all);
    String rest = url.substring("oci://".length());
    int slash = rest.indexOf('/');
    set.add(slash < 0 ? rest : rest.substring(0, slash));
    return set;
  }

  private static String quotePath(String path) {
    return PsychYaml.scalar(path);
  }

  private static String text(JsonNode node, String key) {
    JsonNode v = node == null ? null : node.get(key);
    return v == null || v.isNull() ? null : v.asText();
  }

  static Path expand(String path, Path userHome, Path base) {
    if (path.equals("~")) {
      return userHome.toAbsolutePath();
    }
    if (path.startsWith("~/")) {
      return userHome.toAbsolutePath().resolve(path.substring(2)).normalize();
    }
    return base.resolve(path).toAbsolutePath().normalize();
  }

  /**
   * How {@code add} and {@code build} compress the images they store: zstd unless the optional key
   * {@code compression_type: zlib} says otherwise (for qemu older than 5.1, which reads only zlib
   * clusters). Our addition; Cangallo ignores the key.
   */
  public dev.qcow2.CompressionType compressionType() {
    return compressionType;
  }

  /**
   * Where deploy keeps downloads: {@code cache} in config.yaml, else the config folder's cache/.
   */
  public Path cacheDir() {
    return cacheDir;
  }

  /** How many days a download stays usable ({@code cache_max_days}, default 7). */
  public int cacheMaxDays() {
    return cacheMaxDays;
  }

  /** The HTTP(S) proxy URL from {@code proxy}, or null (then the standard variables apply). */
  public String proxy() {
    return proxy;
  }

  public Path file() {
    return file;
  }

  public String defaultRepo() {
    return defaultRepo;
  }

  /** Repository names in configuration order. */
  public List<String> names() {
    return new ArrayList<>(repos.keySet());
  }

  /**
   * The settings of {@code name}, or of the default repository when null.
   *
   * @throws IllegalStateException as Cangallo's exceptions: no such repository, or no path
   */
  public RepoSettings repo(String name) {
    String n = name == null ? defaultRepo : name;
    RepoSettings s = repos.get(n);
    if (s == null) {
      throw new IllegalStateException("No repo with name '" + n + "'");
    }
    if (s.path() == null) {
      throw new IllegalStateException("Repo path no defined for '" + n + "'");
    }
    return s;
  }
}
