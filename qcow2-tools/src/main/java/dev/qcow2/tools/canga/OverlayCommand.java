package dev.qcow2.tools.canga;

import dev.qcow2.tools.cangafile.CangafileBuilder;
import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.Repositories;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code canga overlay IMAGE FILE}: a new qcow2 FILE backed by the repository image (absolute
 * backing path, its format recorded), outside the repository.
 */
@Command(name = "overlay", description = "create a new image based on another one")
final class OverlayCommand extends CangaCommand {
  @Parameters(index = "0", paramLabel = "IMAGE")
  String image;

  @Parameters(index = "1", paramLabel = "FILE")
  Path file;

  @Override
  int run() throws Exception {
    Repositories.Found found = repos().find(image);
    if (found == null) {
      throw new CangaException("Image not found");
    }
    Path parent = found.repo().imagePath(found.sha256()).toAbsolutePath();
    CangafileBuilder.createOverlay(parent, file);
    return 0;
  }
}
