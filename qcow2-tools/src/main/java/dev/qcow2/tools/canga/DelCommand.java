package dev.qcow2.tools.canga;

import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.Remote;
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
 * their backing chains (Cangallo deletes it silently). In the cache of a writable remote ({@code
 * s3://}) the image is removed from the remote first, which refuses, {@code --force} or not, while
 * another image of the remote has it as parent.
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
    List<String> localChildren = found.index().children(sha);
    if (!localChildren.isEmpty() && !force) {
      throw parentOf(found, localChildren);
    }
    boolean deletedRemotely = false;
    try (Remote remote = FetchCommand.writableRemoteOf(found.repo(), cli().env())) {
      if (remote != null) {
        deletedRemotely = remote.delete(sha);
      }
    }
    // The index goes first: a crash in between leaves an unlisted file, not a listed missing one.
    found
        .repo()
        .update(
            index -> {
              List<String> children = index.children(sha);
              if (!children.isEmpty() && !force) {
                throw parentOf(
                    new Repositories.Found(found.repo(), found.entry(), index), children);
              }
              return index.withoutImage(sha);
            });
    if (!present && !deletedRemotely) {
      err().print("Image file not found\n");
    }
    Files.deleteIfExists(file);
    return 0;
  }

  private CangaException parentOf(Repositories.Found found, List<String> children) {
    StringBuilder sb = new StringBuilder("Image \"" + image + "\" is the parent of");
    String sep = " ";
    for (String child : children) {
      sb.append(sep).append(found.repo().name()).append(':').append(found.index().shortName(child));
      sep = ", ";
    }
    return new CangaException(sb.append("; delete them first, or use --force").toString());
  }
}
