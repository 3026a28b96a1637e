package dev.qcow2.tools.canga;

import dev.qcow2.DiskImage;
import dev.qcow2.convert.ConvertOptions;
import dev.qcow2.convert.ImageConverter;
import dev.qcow2.tools.cli.UsageException;
import dev.qcow2.tools.oci.ContainerDisk;
import dev.qcow2.tools.oci.ContainerDiskTarget;
import dev.qcow2.tools.oci.CredentialStore;
import dev.qcow2.tools.oci.OciReference;
import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.Repositories;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code canga export IMAGE OUTPUT [-f FORMAT] [-c]}: the whole chain flattened into one file; or
 * {@code canga export IMAGE --containerdisk REF}: the flattened qcow2 as a KubeVirt containerDisk
 * ({@link ContainerDisk}) in a registry, an OCI layout or an OCI archive.
 */
@Command(name = "export", description = "export an image to a file or as a KubeVirt containerDisk")
final class ExportCommand extends CangaCommand {
  @Parameters(index = "0", paramLabel = "IMAGE")
  String image;

  @Parameters(index = "1", paramLabel = "OUTPUT", arity = "0..1")
  Path output;

  @Option(
      names = {"-f", "--format"},
      paramLabel = "FORMAT",
      defaultValue = "qcow2",
      description = "format for output image (qcow2 or raw; default: qcow2)")
  String format;

  @Option(
      names = {"-c", "--compress"},
      negatable = true,
      description = "compress output qcow2 image")
  boolean compress;

  @Option(
      names = "--containerdisk",
      paramLabel = "REF",
      description =
          "write a KubeVirt containerDisk to oci://HOST[:PORT]/NAMESPACE/REPO[:TAG], oci:DIR[:TAG] or "
              + "oci-archive:FILE[:TAG] (TAG: the image's first tag, else its short sha256)")
  String containerDisk;

  @Option(
      names = "--plain-http",
      description = "reach the --containerdisk registry over HTTP (loopback hosts always are)")
  boolean plainHttp;

  @Override
  int run() throws Exception {
    if ((output == null) == (containerDisk == null)) {
      throw new UsageException("export needs either OUTPUT or --containerdisk REF");
    }
    ContainerDiskTarget target =
        containerDisk == null ? null : ContainerDiskTarget.parse(containerDisk);
    Repositories.Found found = repos().find(image);
    if (found == null) {
      throw new CangaException("Image not found");
    }
    if (!format.equals("qcow2") && !format.equals("raw")) {
      throw new IllegalArgumentException("Unknown file format '" + format + "' (qcow2 or raw)");
    }
    if (target != null && !format.equals("qcow2")) {
      throw new IllegalArgumentException(
          "A containerDisk holds a qcow2 image (-f " + format + " given)");
    }
    if (compress && format.equals("raw")) {
      throw new IllegalArgumentException("Compression not supported for this file format");
    }
    if (target == null) {
      flatten(found, output);
      return 0;
    }
    if (target.tag() == null) {
      target = target.withTag(defaultTag(found));
    }
    Path flat = Files.createTempFile("canga-containerdisk-", ".qcow2");
    try {
      flatten(found, flat);
      Set<String> insecure =
          plainHttp && target.registry() != null ? Set.of(target.registry().registry()) : Set.of();
      ContainerDisk.export(flat, target, CredentialStore.fromEnvironment(), insecure);
    } finally {
      Files.deleteIfExists(flat);
    }
    err().print("Exported " + found.displayName() + " to " + target + "\n");
    return 0;
  }

  private void flatten(Repositories.Found found, Path to) throws Exception {
    try (DiskImage source = DiskImage.open(found.repo().imagePath(found.sha256()))) {
      ImageConverter.convert(
          source,
          to,
          ConvertOptions.builder()
              .targetFormat(format)
              .compress(compress)
              .threads(Runtime.getRuntime().availableProcessors())
              .build());
    }
  }

  /** The image's first tag that a registry accepts, else its first 16 hex digits. */
  private static String defaultTag(Repositories.Found found) {
    for (String t : found.index().tagsOf(found.sha256())) {
      if (OciReference.isLegalTag(t)) {
        return t;
      }
    }
    return found.sha256().substring(0, 16);
  }
}
