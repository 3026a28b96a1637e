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
 * parsing and verifying them: about half of a short command's start-up. With {@code --remote} the
 * remote paths are trained too, for the launchers' second archive, against {@link
 * CdsTrainingServer} on a loopback port: http:// through the verbs, s3:// through the library calls
 * they make ({@link CdsTrainingS3}). Nothing is printed and nothing outside the temporary folder is
 * touched; a verb that fails only archives fewer classes.
 */
public final class CdsTraining {
  private CdsTraining() {}

  public static void main(String[] args) throws IOException {
    Path dir = Files.createTempDirectory("qcow2-cds-training");
    PrintStream quiet = new PrintStream(OutputStream.nullOutputStream(), true);
    // Libraries may write warnings straight to the standard streams; a training writes nothing.
    PrintStream out = System.out;
    PrintStream err = System.err;
    System.setOut(quiet);
    System.setErr(quiet);
    try {
      local(dir, quiet);
      if (args.length > 0 && args[0].equals("--remote")) {
        remote(dir, quiet);
      }
    } finally {
      System.setOut(out);
      System.setErr(err);
      try (Stream<Path> files = Files.walk(dir)) {
        for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
          Files.deleteIfExists(p);
        }
      }
    }
  }

  /** The verbs on local files: creates {@code dir/a.qcow2}, which the remote runs then read. */
  private static void local(Path dir, PrintStream quiet) {
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
  }

  /**
   * The remote verbs against the training server serving {@code dir/a.qcow2}; stopped before this
   * returns, whatever failed.
   */
  private static void remote(Path dir, PrintStream quiet) {
    Path img = dir.resolve("a.qcow2");
    try (CdsTrainingServer server = CdsTrainingServer.start(Files.readAllBytes(img))) {
      String url = server.endpoint() + "/" + CdsTrainingServer.KEY;
      String[][] runs = {
        {"qcow2", "info", url},
        {"qcow2", "info", "--output=json", url},
        {"qcow2", "map", "--output=json", url},
        {"qcow2", "check", url},
        {"qcow2", "compare", img.toString(), url},
        {"qcow2", "convert", "-O", "raw", url, dir.resolve("h.raw").toString()},
      };
      for (String[] run : runs) {
        Main.run(quiet, quiet, run);
      }
      CdsTrainingS3.run(server.endpoint(), img, dir);
    } catch (Exception | LinkageError e) {
      // The training only archives fewer classes.
    }
  }
}
