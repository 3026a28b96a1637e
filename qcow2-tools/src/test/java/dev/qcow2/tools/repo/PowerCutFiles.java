package dev.qcow2.tools.repo;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * {@link DurableFiles} on the real file system that also keeps what a power cut would leave of the
 * folders under a root: a file's content as it was when last forced (a file never forced comes back
 * empty) and a folder's names as they were when it was last forced. After every operation it tells
 * its observer, which can then {@link #materialize} that state somewhere else.
 *
 * <p>Files are followed through renames, so a name keeps pointing at the content that was forced
 * under whatever name the file had then. Files made without this seam (temporary files, the lock
 * file) are known from the first listing or force that sees them.
 */
final class PowerCutFiles implements DurableFiles {

  /** Told after each operation, with a word on what it was. */
  interface Observer {
    void after(String operation) throws IOException;
  }

  /** One file, whatever its name: what of it is durable. */
  private static final class Node {
    byte[] durable = new byte[0];
  }

  /** Stands for a folder in a listing. */
  private static final Node FOLDER = new Node();

  private final Path root;
  private final Map<Path, Node> byPath = new HashMap<>();
  private final Map<Path, Map<String, Node>> durableNames = new HashMap<>();
  private Observer observer = operation -> {};

  /** Everything under {@code root} now counts as durable. */
  PowerCutFiles(Path root) throws IOException {
    this.root = root.toAbsolutePath();
    try (Stream<Path> all = Files.walk(this.root)) {
      for (Path p : all.toList()) {
        if (Files.isDirectory(p)) {
          durableNames.put(p, listing(p));
        } else {
          node(p).durable = Files.readAllBytes(p);
        }
      }
    }
  }

  void observe(Observer observer) {
    this.observer = observer;
  }

  @Override
  public void force(Path file) throws IOException {
    REAL.force(file);
    node(file.toAbsolutePath()).durable = Files.readAllBytes(file);
    observer.after("force " + root.relativize(file.toAbsolutePath()));
  }

  @Override
  public void rename(Path from, Path to) throws IOException {
    REAL.rename(from, to);
    Node moved = byPath.remove(from.toAbsolutePath());
    byPath.put(to.toAbsolutePath(), moved != null ? moved : new Node());
    observer.after("rename " + from.getFileName() + " to " + to.getFileName());
  }

  @Override
  public void forceDirectory(Path dir) throws IOException {
    REAL.forceDirectory(dir);
    Path abs = dir.toAbsolutePath();
    if (abs.startsWith(root)) {
      durableNames.put(abs, listing(abs));
    }
    observer.after("force folder " + root.relativize(abs));
  }

  /**
   * Writes under {@code target} the files and folders a power cut now would leave under the root:
   * forced content only, and either only the names made durable ({@code namesAhead} false) or all
   * current names ({@code namesAhead} true: a file system that commits names before data).
   */
  void materialize(Path target, boolean namesAhead) throws IOException {
    materialize(root, target, namesAhead);
  }

  private void materialize(Path dir, Path target, boolean namesAhead) throws IOException {
    Files.createDirectories(target);
    Map<String, Node> names = namesAhead ? listing(dir) : durableNames.getOrDefault(dir, Map.of());
    for (Map.Entry<String, Node> e : names.entrySet()) {
      Path from = dir.resolve(e.getKey());
      if (e.getValue() == FOLDER) {
        if (Files.isDirectory(from)) {
          materialize(from, target.resolve(e.getKey()), namesAhead);
        } else {
          Files.createDirectories(target.resolve(e.getKey())); // gone since: it was left empty
        }
      } else {
        Files.write(target.resolve(e.getKey()), e.getValue().durable);
      }
    }
  }

  private Map<String, Node> listing(Path dir) throws IOException {
    Map<String, Node> names = new TreeMap<>();
    try (Stream<Path> list = Files.list(dir)) {
      list.forEach(
          p -> names.put(p.getFileName().toString(), Files.isDirectory(p) ? FOLDER : node(p)));
    } catch (UncheckedIOException e) {
      throw e.getCause();
    }
    return names;
  }

  private Node node(Path file) {
    return byPath.computeIfAbsent(file.toAbsolutePath(), p -> new Node());
  }
}
