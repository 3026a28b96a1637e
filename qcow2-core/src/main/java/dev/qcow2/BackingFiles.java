package dev.qcow2;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * Resolves and opens the files an image names (its backing file, its external data file) under the
 * open options' policy: names are plain local paths, relative names are resolved against the folder
 * of the image that names them, and chains that loop or run too deep are refused.
 */
final class BackingFiles {
  private BackingFiles() {}

  /** Opens a file an image names, once its name has passed the policy. */
  @FunctionalInterface
  interface Opener {
    Storage open(Path path, boolean writable) throws IOException;
  }

  /** The real paths of the images already open in one chain, to find loops. */
  static final class Chain {
    final Set<Path> seen = new HashSet<>();
    final int depth;

    Chain(int depth) {
      this.depth = depth;
    }

    Chain next() {
      Chain c = new Chain(depth + 1);
      c.seen.addAll(seen);
      return c;
    }
  }

  /**
   * qemu would treat a name with a colon before any slash as "protocol:..." (nbd:, http:, json:),
   * which could make it read anything; we only ever follow plain local file names.
   */
  static void checkPlainName(String image, Structure structure, long offset, String name)
      throws UnsupportedImageException {
    int colon = name.indexOf(':');
    int slash = name.indexOf('/');
    if (name.startsWith("json:") || (colon >= 0 && (slash < 0 || colon < slash))) {
      throw new UnsupportedImageException(
          image,
          structure,
          offset,
          "\"" + name + "\" is a protocol or JSON pseudo-file name, which is never followed");
    }
  }

  /** The path a stored name refers to: as is if absolute, else beside the naming image. */
  static Path resolve(Path image, String name) {
    Path p = Path.of(name);
    if (p.isAbsolute()) {
      return p;
    }
    Path parent = image.getParent();
    return parent == null ? p : parent.resolve(p);
  }

  /** Opens the backing file {@code name} of {@code image} under {@code options}. */
  static DiskImage openBacking(
      Path image, Header h, String name, String format, OpenOptions options, Chain chain)
      throws IOException {
    String imageName = image.toString();
    checkPlainName(imageName, Structure.BACKING_FILE_NAME, h.backingFileOffset(), name);
    Chain next = chain.next();
    if (next.depth > options.maxChainDepth()) {
      throw new ImageLimitException(
          imageName,
          Structure.BACKING_CHAIN,
          h.backingFileOffset(),
          "is deeper than the limit of " + options.maxChainDepth() + " images");
    }
    Path path = resolve(image, name);
    if (!Files.exists(path)) {
      throw new NoSuchFileException(
          path.toString(), null, imageName + ": backing file \"" + name + "\" does not exist");
    }
    Path real = path.toRealPath();
    if (!next.seen.add(real)) {
      throw new CorruptImageException(
          imageName,
          Structure.BACKING_CHAIN,
          h.backingFileOffset(),
          "loops: \"" + name + "\" is already in the chain");
    }
    checkAllowed(imageName, Structure.BACKING_FILE_NAME, h.backingFileOffset(), real, options);
    // Backing files are only ever read through an overlay.
    OpenOptions readOnly = options.forBacking();
    if ("raw".equals(format)) {
      return RawImage.open(path, false);
    }
    if (format == null) {
      if (!ImageFormat.isQcow2(path)) {
        return RawImage.open(path, false);
      }
    } else if (!"qcow2".equals(format)) {
      throw new UnsupportedImageException(
          imageName,
          Structure.HEADER_EXTENSION,
          -1,
          "backing format \"" + format + "\" is not supported (qcow2 or raw)");
    }
    return Qcow2Image.open(path, readOnly, next);
  }

  /**
   * Opens the external data file {@code name} of {@code image} read-only, under the same policy as
   * backing files: a plain local name inside the allowed folders. An image-embedded data file name
   * is attacker-controlled (CVE-2024-32498): it could map any host file into the guest disk.
   */
  static Storage openDataFile(
      Path image, HeaderExtension ext, OpenOptions options, boolean writable) throws IOException {
    String imageName = image.toString();
    String name = ext.text();
    checkPlainName(imageName, Structure.EXTERNAL_DATA_FILE, ext.hostOffset(), name);
    Path path = resolve(image, name);
    if (!Files.exists(path)) {
      throw new NoSuchFileException(
          path.toString(),
          null,
          imageName + ": external data file \"" + name + "\" does not exist");
    }
    checkAllowed(
        imageName, Structure.EXTERNAL_DATA_FILE, ext.hostOffset(), path.toRealPath(), options);
    return options.dataFileOpener().open(path, writable);
  }

  private static void checkAllowed(
      String image, Structure structure, long offset, Path real, OpenOptions options)
      throws IOException {
    if (options.allowedBackingDirectories().isEmpty()) {
      return;
    }
    for (Path dir : options.allowedBackingDirectories()) {
      if (Files.isDirectory(dir) && real.startsWith(dir.toRealPath())) {
        return;
      }
    }
    throw new UnsupportedImageException(
        image,
        structure,
        offset,
        "\"" + real + "\" lies outside the allowed folders " + options.allowedBackingDirectories());
  }
}
