package dev.qcow2.tools.canga;

import dev.qcow2.DiskImage;
import dev.qcow2.convert.ConvertOptions;
import dev.qcow2.convert.ImageConverter;
import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.Repositories;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code canga export IMAGE OUTPUT [-f FORMAT] [-c]}: the whole chain flattened into one file. */
@Command(name = "export", description = "export an image to a file")
final class ExportCommand extends CangaCommand {
  @Parameters(index = "0", paramLabel = "IMAGE")
  String image;

  @Parameters(index = "1", paramLabel = "OUTPUT")
  Path output;

  @Option(names = {"-f", "--format"}, paramLabel = "FORMAT", defaultValue = "qcow2",
      description = "format for output image (qcow2 or raw; default: qcow2)")
  String format;

  @Option(names = {"-c", "--compress"}, negatable = true, description = "compress output qcow2 image")
  boolean compress;

  @Override
  int run() throws Exception {
    Repositories.Found found = repos().find(image);
    if (found == null) {
      throw new CangaException("Image not found");
    }
    if (!format.equals("qcow2") && !format.equals("raw")) {
      throw new IllegalArgumentException("Unknown file format '" + format + "' (qcow2 or raw)");
    }
    if (compress && format.equals("raw")) {
      throw new IllegalArgumentException("Compression not supported for this file format");
    }
    try (DiskImage source = DiskImage.open(found.repo().imagePath(found.sha256()))) {
      ImageConverter.convert(source, output, ConvertOptions.builder()
          .targetFormat(format)
          .compress(compress)
          .threads(Runtime.getRuntime().availableProcessors())
          .build());
    }
    return 0;
  }
}
