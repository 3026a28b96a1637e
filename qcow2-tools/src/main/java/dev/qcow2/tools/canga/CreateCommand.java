package dev.qcow2.tools.canga;

import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.tools.cli.SizeParser;
import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.Repositories;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code canga create FILE [SIZE] [--parent PARENT]}: a new qcow2 image outside the repository.
 * PARENT is a file path, as for Cangallo, or else an image name of the repository; without SIZE the
 * parent's size is taken. FILE and SIZE are echoed first, as Cangallo does.
 */
@Command(name = "create", description = "create a new qcow2 image")
final class CreateCommand extends CangaCommand {
  @Parameters(index = "0", paramLabel = "FILE")
  Path file;

  @Parameters(index = "1", paramLabel = "SIZE", arity = "0..1")
  String size;

  @Option(names = "--parent", paramLabel = "PARENT", description = "id of the parent image")
  String parent;

  @Override
  int run() throws Exception {
    out().print(file + "\n" + (size == null ? "" : size) + "\n");
    out().flush();
    CreateOptions.Builder options;
    Long bytes = size == null ? null : SizeParser.parse(size);
    if (parent != null) {
      Path parentPath = Path.of(parent);
      if (!Files.exists(parentPath)) {
        Repositories.Found found = repos().find(parent);
        if (found == null) {
          throw new CangaException("Image not found");
        }
        parentPath = found.repo().imagePath(found.sha256()).toAbsolutePath();
      }
      try (DiskImage p =
          DiskImage.open(parentPath, OpenOptions.builder().openBacking(false).build())) {
        options =
            CreateOptions.builder(bytes != null ? bytes : p.size())
                .backingFile(parentPath.toString(), p.format());
      }
    } else if (bytes == null) {
      throw new IllegalArgumentException("Image creation needs a size parameter");
    } else {
      options = CreateOptions.builder(bytes);
    }
    Qcow2Image.create(file, options.build()).close();
    return 0;
  }
}
