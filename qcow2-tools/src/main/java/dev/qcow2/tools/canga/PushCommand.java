package dev.qcow2.tools.canga;

import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.ImageEntry;
import dev.qcow2.tools.repo.Remote;
import dev.qcow2.tools.repo.Repositories;
import dev.qcow2.tools.repo.Repository;
import dev.qcow2.tools.repo.RepositoryConfig;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code canga push IMAGE [REPO]} (ours): upload the image and every ancestor the remote lacks,
 * root first, then add their entries and tags to the remote index and refresh the local cache of
 * the remote. REPO is a {@code type: remote} repository whose url names a writable store ({@code
 * s3://}); without it, the only {@code type: remote} repository of the configuration. A progress
 * bar is drawn on a terminal only.
 */
@Command(
    name = "push",
    description = "upload an image and its missing ancestors to a remote repository")
final class PushCommand extends CangaCommand {
  @Parameters(index = "0", paramLabel = "IMAGE")
  String image;

  @Parameters(index = "1", paramLabel = "REPO", arity = "0..1")
  String repo;

  @Override
  int run() throws Exception {
    Repositories.Found found = repos().find(image);
    if (found == null) {
      throw new CangaException("Image not found");
    }
    Repository target = repos().repo(repo != null ? repo : onlyRemote(repos().config()));
    if (!target.settings().isRemote()) {
      throw new CangaException(
          "Repository '" + target.name() + "' is not a remote (type: remote with a url)");
    }
    List<String> chain = new ArrayList<>(found.index().ancestors(found.sha256()));
    Collections.reverse(chain);
    List<ImageEntry> entries = new ArrayList<>();
    for (String sha : chain) {
      if (!Files.exists(found.repo().imagePath(sha))) {
        throw new CangaException(
            "The file of "
                + display(found, sha)
                + " is not in "
                + found.repo().dir()
                + " (pull it first)");
      }
      entries.add(found.index().image(sha));
    }
    Map<String, String> tags = new LinkedHashMap<>();
    found
        .index()
        .tags()
        .forEach(
            (tag, sha) -> {
              if (chain.contains(sha)) {
                tags.put(tag, sha);
              }
            });
    PrintStream bar = System.console() != null ? err() : null;
    try (Remote remote = FetchCommand.remoteOf(target, cli().env())) {
      for (ImageEntry e : entries) {
        Path file = found.repo().imagePath(e.sha256());
        err().print("Pushing " + display(found, e.sha256()) + "\n");
        err().flush();
        if (!remote.push(file, e, bar)) {
          err().print("Image " + display(found, e.sha256()) + " already in " + remote.url() + "\n");
        }
      }
      remote.publish(entries, tags);
      FetchCommand.refresh(target, remote);
    }
    return 0;
  }

  private static String display(Repositories.Found found, String sha) {
    return found.repo().name() + ":" + found.index().shortName(sha);
  }

  private static String onlyRemote(RepositoryConfig config) {
    List<String> remotes = new ArrayList<>();
    for (String n : config.names()) {
      if (config.repo(n).isRemote()) {
        remotes.add(n);
      }
    }
    if (remotes.size() != 1) {
      throw new CangaException(
          "Name the remote repository to push to: canga push IMAGE REPO"
              + (remotes.isEmpty()
                  ? " (none is configured)"
                  : " (one of " + String.join(", ", remotes) + ")"));
    }
    return remotes.get(0);
  }
}
