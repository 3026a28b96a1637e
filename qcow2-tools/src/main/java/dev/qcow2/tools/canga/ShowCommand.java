package dev.qcow2.tools.canga;

import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.PsychYaml;
import dev.qcow2.tools.repo.Repositories;
import dev.qcow2.tools.repo.Repository;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code canga show IMAGE}: the stored metadata as YAML, with {@code repo} appended. */
@Command(name = "show", description = "show information about an image")
final class ShowCommand extends CangaCommand {
  @Parameters(paramLabel = "IMAGE")
  String image;

  @Override
  int run() throws Exception {
    Repositories.Found found = repos().find(image);
    if (found == null) {
      throw new CangaException("No image found with name '" + image + "'");
    }
    out().print(PsychYaml.emit(Repository.withRepo(found.entry(), found.repo().name())));
    return 0;
  }
}
