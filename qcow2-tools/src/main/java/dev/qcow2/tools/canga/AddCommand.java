package dev.qcow2.tools.canga;

import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.Repositories;
import dev.qcow2.tools.repo.Repository;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code canga add FILE [REPO]}: hash the disk, then store a compressed qcow2 copy, a compressed
 * delta against {@code --parent} (which Cangallo declares but ignores), or with {@code --copy} the
 * file's bytes as they are.
 */
@Command(name = "add", description = "add a new file to the repository")
final class AddCommand extends CangaCommand {
  @Parameters(index = "0", paramLabel = "FILE")
  Path file;

  @Parameters(index = "1", paramLabel = "REPO", arity = "0..1")
  String repo;

  @Option(names = "--parent", paramLabel = "PARENT", description = "id of the parent image")
  String parent;

  @Option(names = "--tag", paramLabel = "TAG", description = "tag name of the new image")
  String tag;

  @Option(
      names = "--copy",
      negatable = true,
      description = "do not process the image, make an exact copy")
  boolean copy;

  @Override
  int run() throws Exception {
    Repository target = repos().repo(repo);
    if (!Files.isRegularFile(file)) {
      throw new CangaException("File not found: " + file);
    }
    TagCommand.checkTagName(tag);
    String parentSha = null;
    if (parent != null) {
      if (copy) {
        throw new CangaException(
            "--copy stores the file as it is; it cannot be a delta on --parent");
      }
      Repositories.Found found = repos().find(parent);
      if (found == null) {
        throw new CangaException("Image \"" + parent + "\" not found");
      }
      if (!found.repo().name().equals(target.name())) {
        throw new CangaException(
            "The parent "
                + found.displayName()
                + " is not in repository '"
                + target.name()
                + "'; import it first");
      }
      parentSha = found.sha256();
    }
    target.addImage(new Repository.AddRequest(file, parentSha, copy, null, tag), out());
    return 0;
  }
}
