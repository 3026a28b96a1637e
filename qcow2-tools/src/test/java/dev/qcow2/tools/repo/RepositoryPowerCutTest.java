package dev.qcow2.tools.repo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.qcow2.CompressionType;
import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.Qcow2Image;
import dev.qcow2.hash.ContentHasher;
import dev.qcow2.hash.HashAlgorithm;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code canga add} and the index under power loss: the repository's durable file operations go
 * through {@link PowerCutFiles}, and after every one of them the state a power cut would leave is
 * written out twice (only what was forced; and all current names over forced content, as a file
 * system that commits names before data leaves it) and checked: the index reads, every entry has
 * its file, every {@code <sha256>.qcow2} present holds the disk of that digest (no file was renamed
 * into place before it was durable), and every add that returned is there with its tag.
 *
 * <p>The adds: a raw disk into a new repository, a delta on it, an exact copy, and the first disk
 * again under another tag (its entry replaced in place).
 */
class RepositoryPowerCutTest {
  @TempDir Path tmp;

  private PowerCutFiles files;
  private Path cuts;

  /** The adds that returned, by digest, with the tag each was given (or null). */
  private final Map<String, String> returned = new LinkedHashMap<>();

  private final List<String> operations = new ArrayList<>();
  private int checked;

  @Test
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void everyCutLeavesAConsistentRepository() throws Exception {
    Path src = Files.createDirectories(tmp.resolve("src"));
    byte[] disk = content(1 << 20, 1);
    Path a = Files.write(src.resolve("a.raw"), disk);
    byte[] changed = disk.clone();
    System.arraycopy(content(200_000, 2), 0, changed, 300_000, 200_000);
    Path b = qcow2(src.resolve("b.qcow2"), changed);
    Path c = qcow2(src.resolve("c.qcow2"), content(1 << 20, 3));

    Path store = Files.createDirectories(tmp.resolve("store"));
    cuts = Files.createDirectories(tmp.resolve("cuts"));
    files = new PowerCutFiles(store);
    files.observe(this::cut);
    RepositoryConfig.RepoSettings settings =
        new RepositoryConfig.RepoSettings("default", null, store.resolve("repo"), null);
    Repository repo = new Repository(settings, CompressionType.ZSTD, files);

    String shaA = add(repo, new Repository.AddRequest(a, null, false, null, "base"));
    add(repo, new Repository.AddRequest(b, shaA, false, null, null));
    add(repo, new Repository.AddRequest(c, null, true, null, "copied"));
    assertEquals(shaA, add(repo, new Repository.AddRequest(a, null, false, null, "again")));
    cut("the end");

    // Each add forces its file, renames it, forces the folder, and the same for the index.
    assertTrue(checked >= 4 * 6, () -> "only " + checked + " cuts: " + operations);
  }

  private String add(Repository repo, Repository.AddRequest request) throws IOException {
    operations.add("add " + request.file().getFileName() + (request.copy() ? " --copy" : ""));
    String sha =
        repo.addImage(
            request, new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    returned.put(sha, request.tag());
    return sha;
  }

  private void cut(String operation) throws IOException {
    operations.add(operation);
    for (boolean namesAhead : new boolean[] {false, true}) {
      Path at = cuts.resolve(checked + (namesAhead ? "-names-ahead" : "-forced"));
      files.materialize(at, namesAhead);
      String what =
          "cut after "
              + operation
              + (namesAhead ? " (names ahead of data)" : " (forced only)")
              + ", operations "
              + operations;
      assertConsistent(at.resolve("repo"), what);
      delete(at);
    }
    checked++;
  }

  private void assertConsistent(Path repo, String what) throws IOException {
    if (!Files.isDirectory(repo)) {
      assertTrue(
          returned.isEmpty(), () -> what + ": the repository folder is gone after adds returned");
      return;
    }
    RepositoryIndex index;
    try {
      index = RepositoryIndex.read(repo.resolve("index.yaml"));
    } catch (IOException e) {
      throw new AssertionError(what + ": the index does not read: " + e.getMessage(), e);
    }
    for (String sha : index.images().keySet()) {
      assertTrue(
          Files.exists(repo.resolve(sha + ".qcow2")),
          () -> what + ": entry " + sha + " has no file");
    }
    try (Stream<Path> list = Files.list(repo)) {
      for (Path f : list.toList()) {
        String name = f.getFileName().toString();
        if (name.matches("[0-9a-f]{64}\\.qcow2")) {
          assertHolds(f, name.substring(0, 64), what);
        }
      }
    }
    for (Map.Entry<String, String> e : returned.entrySet()) {
      assertTrue(
          index.image(e.getKey()) != null,
          () -> what + ": the entry of " + e.getKey() + " was lost");
      if (e.getValue() != null) {
        assertEquals(
            List.of(e.getKey()),
            index.candidates(e.getValue()),
            () -> what + ": tag " + e.getValue());
      }
    }
  }

  /** The file is the disk its name says: complete, readable, with that content digest. */
  private static void assertHolds(Path file, String sha, String what) {
    try (DiskImage d = DiskImage.open(file)) {
      assertEquals(
          sha,
          ContentHasher.hash(d, HashAlgorithm.SHA256, 1, null).hex(),
          () -> what + ": " + file.getFileName());
    } catch (IOException | RuntimeException e) {
      fail(
          what
              + ": "
              + file.getFileName()
              + " ("
              + file.toFile().length()
              + " bytes) is not the disk it names: "
              + e,
          e);
    }
  }

  /** Data that compresses in part: random runs between zeros. */
  private static byte[] content(int size, long seed) {
    byte[] b = new byte[size];
    Random r = new Random(seed);
    for (int at = 0; at < size; at += 65536) {
      byte[] run = new byte[r.nextInt(40000)];
      r.nextBytes(run);
      System.arraycopy(run, 0, b, at, Math.min(run.length, size - at));
    }
    return b;
  }

  private static Path qcow2(Path path, byte[] content) throws IOException {
    try (Qcow2Image img = Qcow2Image.create(path, CreateOptions.builder(content.length).build())) {
      img.write(ByteBuffer.wrap(content), 0);
    }
    return path;
  }

  private static void delete(Path dir) throws IOException {
    try (Stream<Path> all = Files.walk(dir)) {
      for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
