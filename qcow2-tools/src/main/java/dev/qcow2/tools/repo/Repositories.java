package dev.qcow2.tools.repo;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every repository of a configuration, and image names across them (Cangallo's {@code
 * lib/cangallo.rb}). A name is {@code repo:name} or {@code name}; {@code name} is a tag or a sha256
 * prefix ({@link RepositoryIndex#candidates}). Without a repository the default one is searched
 * first, then the others in configuration order; the first repository with a match answers, and a
 * prefix that matches several of its images is an error listing them.
 */
public final class Repositories {
  private final RepositoryConfig config;
  private final Map<String, Repository> open = new LinkedHashMap<>();

  public Repositories(RepositoryConfig config) {
    this.config = config;
  }

  public RepositoryConfig config() {
    return config;
  }

  /** The repository named {@code name} (the default one when null), its folder created. */
  public Repository repo(String name) throws IOException {
    RepositoryConfig.RepoSettings s = config.repo(name);
    Repository r = open.get(s.name());
    if (r == null) {
      r = new Repository(s, config.compressionType());
      open.put(s.name(), r);
    }
    return r;
  }

  /** An image found by name: its repository, its entry and that repository's index. */
  public record Found(Repository repo, ImageEntry entry, RepositoryIndex index) {
    public String sha256() {
      return entry.sha256();
    }

    /** {@code repo:short}, as Cangallo shows an image. */
    public String displayName() {
      return repo.name() + ":" + index.shortName(entry.sha256());
    }
  }

  /** Cangallo's parse_name: {@code [repo, name]}, repo null without a colon. */
  public static String[] parseName(String text) {
    String[] parts = text.split(":");
    if (parts.length > 1) {
      return new String[] {parts[0], parts[1]};
    }
    return new String[] {null, text};
  }

  /**
   * Resolves an IMAGE argument.
   *
   * @return the image, or null if no repository has it
   * @throws CangaException if the name is an ambiguous prefix
   * @throws IllegalStateException if it names an unknown repository
   */
  public Found find(String text) throws IOException {
    String[] parsed = parseName(text);
    List<String> order = new ArrayList<>();
    if (parsed[0] != null) {
      order.add(parsed[0]);
    } else {
      order.add(config.defaultRepo());
      for (String n : config.names()) {
        if (!order.contains(n)) {
          order.add(n);
        }
      }
    }
    for (String n : order) {
      Repository r = repo(n);
      RepositoryIndex index = r.index();
      List<String> found = index.candidates(parsed[1]);
      if (found.size() == 1) {
        return new Found(r, index.image(found.get(0)), index);
      }
      if (found.size() > 1) {
        StringBuilder sb =
            new StringBuilder("Image name \"" + text + "\" is ambiguous; it matches:");
        for (String sha : found) {
          sb.append("\n  ").append(r.name()).append(':').append(sha);
          String shortName = index.shortName(sha);
          if (!sha.startsWith(shortName)) {
            sb.append(" (").append(shortName).append(')');
          }
        }
        throw new CangaException(sb.toString());
      }
    }
    return null;
  }
}
