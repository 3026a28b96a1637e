package dev.qcow2.tools.canga;

import dev.qcow2.tools.cangafile.Cangafile;
import dev.qcow2.tools.cangafile.CangafileBuilder;
import dev.qcow2.tools.cangafile.GuestCustomizer;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code canga build CANGAFILE [--tag TAG]}: a derived image from a Cangafile. The Cangafile is
 * checked whole first; a bad one is refused, naming its line, before anything is created. A build
 * file of several named targets (each with a {@code base}) builds them all, in order.
 */
@Command(name = "build", description = "create a new image using a Cangafile")
final class BuildCommand extends CangaCommand {
  @Parameters(paramLabel = "CANGAFILE")
  Path file;

  @Option(names = "--tag", paramLabel = "TAG", description = "tag name of the new image")
  String tag;

  @Override
  int run() throws Exception {
    com.fasterxml.jackson.databind.JsonNode root;
    try {
      root = dev.qcow2.tools.repo.PsychYaml.parse(java.nio.file.Files.readString(file));
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      root = null; // Cangafile.read names the line
    }
    if (root != null && dev.qcow2.tools.cangafile.MultiBuild.isMultiTarget(root)) {
      if (tag != null) {
        throw new IllegalArgumentException(
            "--tag is for a Cangafile; the targets of a build file are tagged by name");
      }
      dev.qcow2.tools.cangafile.MultiBuild build =
          dev.qcow2.tools.cangafile.MultiBuild.read(file, repos());
      GuestCustomizer customizer = new GuestCustomizer("virt-customize", cli().env());
      build.build(repos(), repos().repo(null), customizer, out(), err());
      return 0;
    }
    Cangafile cangafile = Cangafile.read(file);
    TagCommand.checkTagName(tag);
    GuestCustomizer customizer = new GuestCustomizer("virt-customize", cli().env());
    new CangafileBuilder(repos(), customizer, out(), err())
        .build(cangafile, file.getFileName().toString(), tag);
    return 0;
  }
}
