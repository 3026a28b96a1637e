package dev.qcow2.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Which packages of a source tree name which others, read from the sources themselves: every
 * qualified name (imports, static and wildcard imports, names written out in the code) counts, so
 * that a test can hold the dependencies to one direction without a build plugin.
 */
public final class PackageGraph {
  private static final Pattern PACKAGE = Pattern.compile("(?m)^package\\s+([\\w.]+)\\s*;");

  /** A package name (lower-case segments) followed by a class name or a wildcard. */
  private static final Pattern REFERENCE =
      Pattern.compile("\\b((?:[a-z_][a-z0-9_]*\\.)*[a-z_][a-z0-9_]*)\\.(?:[A-Z]\\w*|\\*)");

  private final Map<String, Set<String>> uses;

  private PackageGraph(Map<String, Set<String>> uses) {
    this.uses = uses;
  }

  /**
   * The packages under {@code sourceRoot} whose names start with {@code prefix}, each with the
   * packages of that prefix its sources name (itself excluded).
   */
  public static PackageGraph of(Path sourceRoot, String prefix) throws IOException {
    if (!Files.isDirectory(sourceRoot)) {
      throw new IOException("no source folder " + sourceRoot.toAbsolutePath());
    }
    Map<String, Set<String>> uses = new TreeMap<>();
    List<Path> files;
    try (Stream<Path> walk = Files.walk(sourceRoot)) {
      files = walk.filter(p -> p.toString().endsWith(".java")).toList();
    }
    for (Path file : files) {
      String source = Files.readString(file);
      Matcher pm = PACKAGE.matcher(source);
      if (!pm.find() || !inside(pm.group(1), prefix)) {
        continue;
      }
      String pkg = pm.group(1);
      Set<String> used = uses.computeIfAbsent(pkg, k -> new TreeSet<>());
      Matcher m = REFERENCE.matcher(source.substring(pm.end()));
      while (m.find()) {
        String other = m.group(1);
        if (inside(other, prefix) && !other.equals(pkg)) {
          used.add(other);
        }
      }
    }
    return new PackageGraph(uses);
  }

  private static boolean inside(String pkg, String prefix) {
    return pkg.equals(prefix) || pkg.startsWith(prefix + ".");
  }

  public Set<String> packages() {
    return Collections.unmodifiableSet(uses.keySet());
  }

  /** The packages that {@code pkg}'s sources name; empty for a package not in the tree. */
  public Set<String> uses(String pkg) {
    return Collections.unmodifiableSet(uses.getOrDefault(pkg, Set.of()));
  }

  /** A cycle of packages, its first package repeated at its end; empty when there is none. */
  public List<String> cycle() {
    Map<String, Integer> state = new HashMap<>(); // absent: unseen, 1: on the path, 2: done
    for (String start : uses.keySet()) {
      List<String> path = new ArrayList<>();
      List<String> found = visit(start, state, path);
      if (!found.isEmpty()) {
        return found;
      }
    }
    return List.of();
  }

  private List<String> visit(String pkg, Map<String, Integer> state, List<String> path) {
    Integer s = state.get(pkg);
    if (s != null && s == 2) {
      return List.of();
    }
    if (s != null) {
      List<String> cycle = new ArrayList<>(path.subList(path.indexOf(pkg), path.size()));
      cycle.add(pkg);
      return cycle;
    }
    state.put(pkg, 1);
    path.add(pkg);
    for (String next : uses(pkg)) {
      List<String> found = visit(next, state, path);
      if (!found.isEmpty()) {
        return found;
      }
    }
    path.remove(path.size() - 1);
    state.put(pkg, 2);
    return List.of();
  }

  /** One line per package: {@code a -> b, c}. */
  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder();
    uses.forEach(
        (pkg, used) -> sb.append(pkg).append(" -> ").append(String.join(", ", used)).append('\n'));
    return sb.toString();
  }
}
