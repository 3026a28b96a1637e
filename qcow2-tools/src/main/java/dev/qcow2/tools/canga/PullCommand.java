package dev.qcow2.tools.canga;

import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.Remote;
import dev.qcow2.tools.repo.Repositories;
import dev.qcow2.tools.repo.Repository;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code canga pull NAME}: download the image and every missing ancestor from the repository's
 * {@code url}, root first, each verified before it takes its place ({@link Remote#pull}).
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
    pullChain(found, err());
    return 0;
  }

  /** Downloads every missing file of the image's chain, root first. */
  static void pullChain(Repositories.Found found, java.io.PrintStream err) throws Exception {
    Repository repo = found.repo();
    List<String> chain = new ArrayList<>(found.index().ancestors(found.sha256()));
    Collections.reverse(chain);
    Remote remote = null;
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
          throw new CangaException("Repository '" + repo.name() + "' has no url to download from");
        }
        remote = new Remote(repo.settings().url());
      }
      remote.pull(repo, found.index().image(sha), err);
    }
  }
}
