package dev.qcow2.tools;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * The training run behind the launchers' class-data-sharing archive: runs the common verbs of both
 * commands once, on a small image in a temporary folder, so that the JVM archives every class they
 * load ({@code -XX:ArchiveClassesAtExit}). A later start maps those classes instead of loading,
 * parsing and verifying them: about half of a short command's start-up. Nothing is printed and
 * nothing outside the temporary folder is touched; a verb that fails only archives fewer classes.
 */
public final class CdsTraining {
  private CdsTraining() {}

  public static void main(String[] args) throws IOException {
    Path dir = Files.createTempDirectory("qcow2-cds-training");
    PrintStream quiet = new PrintStream(OutputStream.nullOutputStream(), true);
    try {
      String img = dir.resolve("a.qcow2").toString();
      String config = dir.resolve("canga.yaml").toString();
      String[][] runs = {
        {"qcow2", "create", "-q", "-f", "qcow2", img, "4M"},
        {
          "qcow2",
          "io",
          "-c",
          "write -P 0x5a 0 1M",
          "-c",
          "write -z 2M 64k",
          "-c",
          "read -P 0x5a 0 4k",
          img
        },
        {"qcow2", "info", img},
        {"qcow2", "info", "--output=json", img},
        {"qcow2", "map", "--output=json", img},
        {"qcow2", "check", "--output=json", img},
        {"qcow2", "measure", "-O", "qcow2", img},
        {"qcow2", "convert", "-O", "raw", img, dir.resolve("a.raw").toString()},
        {
          "qcow2",
          "convert",
          "-O",
          "qcow2",
          dir.resolve("a.raw").toString(),
          dir.resolve("b.qcow2").toString()
        },
        {
          "qcow2",
          "convert",
          "-c",
          "-O",
          "qcow2",
          "-o",
          "compression_type=zstd",
          img,
          dir.resolve("c.qcow2").toString()
        },
        {"qcow2", "convert", "-c", "-O", "qcow2", img, dir.resolve("d.qcow2").toString()},
        {"qcow2", "compare", img, dir.resolve("d.qcow2").toString()},
        {"qcow2", "hash", img},
        {"qcow2", "snapshot", "-l", img},
        {"qcow2", "resize", img, "8M"},
        {"canga", "--config", config, "add", img, "--tag", "training"},
        {"canga", "--config", config, "list"},
        {"canga", "--config", config, "show", "training"},
      };
      for (String[] run : runs) {
        Main.run(quiet, quiet, run);
      }
    } finally {
      try (Stream<Path> files = Files.walk(dir)) {
        for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
          Files.deleteIfExists(p);
        }
      }
    }
  }
}
