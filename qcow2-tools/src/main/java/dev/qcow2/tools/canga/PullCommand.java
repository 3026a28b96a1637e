package dev.qcow2.tools.canga;

import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.Remote;
import dev.qcow2.tools.repo.Repositories;
import dev.qcow2.tools.repo.Repository;
import java.io.PrintStream;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code canga pull NAME}: download the image and every missing ancestor from the repository's
 * {@code url} (HTTP(S) or S3), root first, each verified before it takes its place ({@link
 * Remote#pull}).
 */
@Command(name = "pull", description = "download an image from a remote repository")
final class PullCommand extends CangaCommand {
  @Parameters(paramLabel = "NAME")
  String name;

  @Override
  int run() throws Exception {
    Repositories.Found found = repos().find(name);
    if (found == null) {
      throw new CangaException("Image not found");
    }
    pullChain(found, err(), cli().env());
    return 0;
  }

  /**
   * Downloads every missing file of the image's chain, root first, with this process's environment.
   */
  static void pullChain(Repositories.Found found, PrintStream err) throws Exception {
    pullChain(found, err, System.getenv());
  }

  /** Downloads every missing file of the image's chain, root first; {@code env} configures S3. */
  static void pullChain(Repositories.Found found, PrintStream err, Map<String, String> env)
      throws Exception {
    Repository repo = found.repo();
    List<String> chain = new ArrayList<>(found.index().ancestors(found.sha256()));
    Collections.reverse(chain);
    Remote remote = null;
    try {
      for (String sha : chain) {
        String display = repo.name() + ":" + found.index().shortName(sha);
        if (Files.exists(repo.imagePath(sha))) {
          err.print("Image " + display + " already downloaded\n");
          continue;
        }
        err.print("Downloading " + display + "\n");
        err.flush();
        if (remote == null) {
          if (repo.settings().url() == null) {
            throw new CangaException(
                "Repository '" + repo.name() + "' has no url to download from");
          }
          remote = Remote.open(repo.settings(), env);
        }
        // A progress bar on a terminal only, as push draws it; in a pipe, the messages alone.
        remote.pull(repo, found.index().image(sha), System.console() != null ? err : null);
      }
    } finally {
      if (remote != null) {
        remote.close();
      }
    }
  }
}
