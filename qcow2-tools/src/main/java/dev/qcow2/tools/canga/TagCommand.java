package dev.qcow2.tools.canga;

import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.Remote;
import dev.qcow2.tools.repo.Repositories;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code canga tag TAGNAME IMAGE}: set or move a tag in the image's repository; in the cache of a
 * writable remote ({@code s3://}), in the remote first.
 */
@Command(name = "tag", description = "add a tag name to an existing image")
final class TagCommand extends CangaCommand {
  @Parameters(index = "0", paramLabel = "TAGNAME")
  String tag;

  @Parameters(index = "1", paramLabel = "IMAGE")
  String image;

  @Override
  int run() throws Exception {
    checkTagName(tag);
    Repositories.Found found = repos().find(image);
    if (found == null) {
      throw new CangaException("Image \"" + image + "\" not found");
    }
    String sha = found.sha256();
    try (Remote remote = FetchCommand.writableRemoteOf(found.repo(), cli().env())) {
      if (remote != null) {
        remote.tag(tag, sha);
      }
    }
    found
        .repo()
        .update(
            index -> {
              if (index.image(sha) == null) {
                throw new CangaException("Image \"" + image + "\" not found");
              }
              return index.withTag(tag, sha);
            });
    return 0;
  }

  /** Cangallo stores any tag; one with a colon could never be looked up again ("repo:name"). */
  static void checkTagName(String tag) {
    if (tag == null) {
      return;
    }
    if (tag.isEmpty() || tag.contains(":")) {
      throw new CangaException("Tag name \"" + tag + "\" must not be empty or contain ':'");
    }
  }
}
