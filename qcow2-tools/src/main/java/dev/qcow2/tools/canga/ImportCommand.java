package dev.qcow2.tools.canga;

import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.ImageEntry;
import dev.qcow2.tools.repo.IndexWriter;
import dev.qcow2.tools.repo.Repositories;
import dev.qcow2.tools.repo.Repository;
import dev.qcow2.tools.repo.RepositoryIndex;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code canga import IMAGE [REPO] [--tag TAG]}: bring an image (typically pulled from a remote)
 * into a local repository by hard link (or copy across file systems), with its metadata. Unlike
 * Cangallo, the missing ancestors come along, so the imported chain works, the creation time is
 * kept, and importing into the image's own repository is refused instead of deleting the file.
 */
@Command(name = "import", description = "import an image from a remote repository")
final class ImportCommand extends CangaCommand {
  @Parameters(index = "0", paramLabel = "IMAGE")
  String image;

  @Parameters(index = "1", paramLabel = "REPO", arity = "0..1")
  String repo;

  @Option(names = "--tag", paramLabel = "TAG", description = "tag name of the new image")
  String tag;

  @Override
  int run() throws Exception {
    TagCommand.checkTagName(tag);
    Repositories.Found found = repos().find(image);
    if (found == null) {
      throw new CangaException("Image not found");
    }
    Repository dest = repos().repo(repo);
    if (dest.dir()
        .toAbsolutePath()
        .normalize()
        .equals(found.repo().dir().toAbsolutePath().normalize())) {
      throw new CangaException(
          "Image " + found.displayName() + " is already in repository '" + dest.name() + "'");
    }
    List<String> chain = new ArrayList<>(found.index().ancestors(found.sha256()));
    Collections.reverse(chain);
    RepositoryIndex present = dest.index();
    List<ImageEntry> entries = new ArrayList<>();
    for (String sha : chain) {
      Path target = dest.imagePath(sha);
      if (present.image(sha) != null && Files.exists(target)) {
        continue;
      }
      Path source = found.repo().imagePath(sha);
      if (!Files.exists(source)) {
        throw new CangaException(
            "The file of "
                + found.repo().name()
                + ":"
                + found.index().shortName(sha)
                + " is not here; pull it first");
      }
      if (!Files.exists(target)) {
        linkOrCopy(source, target);
      }
      entries.add(found.index().image(sha));
    }
    String sha = found.sha256();
    dest.update(
        index -> {
          RepositoryIndex next = index;
          for (ImageEntry e : entries) {
            next = next.withImage(e);
          }
          return tag == null ? next : next.withTag(tag, sha);
        });
    return 0;
  }

  private static void linkOrCopy(Path source, Path target) throws IOException {
    Path tmp =
        target.resolveSibling(
            ".canga-import-" + ProcessHandle.current().pid() + "-" + target.getFileName());
    Files.deleteIfExists(tmp);
    try {
      try {
        Files.createLink(tmp, source);
      } catch (IOException | UnsupportedOperationException e) {
        Files.copy(source, tmp);
        IndexWriter.force(tmp);
      }
      IndexWriter.moveDurably(tmp, target);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }
}
