package dev.qcow2.tools.canga;

import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.Repositories;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code canga del IMAGE} (alias {@code rm}): remove the index entry, its tags and the file. An
 * image that other images use as parent is kept unless {@code --force}: deleting it would break
 * their backing chains (Cangallo deletes it silently).
 */
@Command(name = "del", aliases = "rm", description = "delete an image from the repository")
final class DelCommand extends CangaCommand {
  @Parameters(paramLabel = "IMAGE")
  String image;

  @Option(names = "--force", description = "delete even if other images use it as parent")
  boolean force;

  @Override
  int run() throws Exception {
    Repositories.Found found = repos().find(image);
    if (found == null) {
      throw new CangaException("Image \"" + image + "\" not found");
    }
    String sha = found.sha256();
    Path file = found.repo().imagePath(sha);
    boolean present = Files.exists(file);
    // The index goes first: a crash in between leaves an unlisted file, not a listed missing one.
    found.repo().update(index -> {
      List<String> children = index.children(sha);
      if (!children.isEmpty() && !force) {
        StringBuilder sb = new StringBuilder("Image \"" + image + "\" is the parent of");
        String sep = " ";
        for (String child : children) {
          sb.append(sep).append(found.repo().name()).append(':').append(index.shortName(child));
          sep = ", ";
        }
        throw new CangaException(sb.append("; delete them first, or use --force").toString());
      }
      return index.withoutImage(sha);
    });
    if (!present) {
      err().print("Image file not found\n");
    }
    Files.deleteIfExists(file);
    return 0;
  }
}
