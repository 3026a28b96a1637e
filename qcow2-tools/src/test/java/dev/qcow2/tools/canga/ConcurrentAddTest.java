package dev.qcow2.tools.canga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.tools.repo.RepositoryIndex;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Four canga processes add and tag images in one repository at once: the locked read-modify-write
 * of index.yaml keeps every image and every tag. Real JVMs, started as bin/canga starts the jar
 * (here with the test classpath, which holds the same classes).
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class ConcurrentAddTest {
  private static final int PROCESSES = 4;
  private static final int ROUNDS = 3;

  @TempDir Path dir;

  @Test
  void should_keep_every_image_when_processes_add_at_the_same_time() throws Exception {
    Canga canga = new Canga(dir);
    canga.ok("list"); // creates the configuration once
    List<Path> images = new ArrayList<>();
    for (int i = 0; i < PROCESSES * ROUNDS; i++) {
      images.add(
          canga.image(
              "img" + i + ".qcow2", "1M", "write -P " + (i + 1) + " 0 " + (64 * (i + 1)) + "k"));
    }
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<Process> processes = new ArrayList<>();
    for (int p = 0; p < PROCESSES; p++) {
      // Each process adds ROUNDS images one after the other, through a shell loop of canga runs.
      StringBuilder script = new StringBuilder("set -e\n");
      for (int r = 0; r < ROUNDS; r++) {
        int i = p * ROUNDS + r;
        script
            .append("'")
            .append(java)
            .append(
                "' -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp \"$CP\" dev.qcow2.tools.Main canga --config '")
            .append(canga.config)
            .append("' add '")
            .append(images.get(i))
            .append("' --tag t")
            .append(i)
            .append('\n');
      }
      ProcessBuilder pb =
          new ProcessBuilder("sh", "-c", script.toString())
              .redirectErrorStream(true)
              .redirectOutput(dir.resolve("proc" + p + ".log").toFile());
      pb.environment().put("CP", System.getProperty("java.class.path"));
      processes.add(pb.start());
    }
    for (int p = 0; p < PROCESSES; p++) {
      assertTrue(processes.get(p).waitFor(5, TimeUnit.MINUTES), "process " + p + " timed out");
      assertEquals(
          0, processes.get(p).exitValue(), Files.readString(dir.resolve("proc" + p + ".log")));
    }
    RepositoryIndex index = RepositoryIndex.read(canga.defaultRepo().resolve("index.yaml"));
    assertEquals(PROCESSES * ROUNDS, index.images().size());
    assertEquals(PROCESSES * ROUNDS, index.tags().size());
    Set<String> shas = new HashSet<>();
    for (int i = 0; i < PROCESSES * ROUNDS; i++) {
      String sha = canga.referenceSha(images.get(i));
      shas.add(sha);
      assertEquals(sha, index.tags().get("t" + i));
      assertTrue(Files.exists(canga.defaultRepo().resolve(sha + ".qcow2")));
    }
    assertEquals(shas, index.images().keySet());
    try (var files = Files.list(canga.defaultRepo())) {
      // Nothing left over: no temporary index or image files.
      assertEquals(
          PROCESSES * ROUNDS + 2,
          files.count(),
          String.join(File.pathSeparator, List.of(canga.defaultRepo().toFile().list())));
    }
  }
}
