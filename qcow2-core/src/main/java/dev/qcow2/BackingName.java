package dev.qcow2;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where a backing file name leads, by qemu's rule (bdrv_get_full_backing_filename): a relative name
 * is relative to the folder of the image that stores it, not to the working directory. The one
 * place of that rule for callers outside the library, who name a backing file before the image that
 * will store it can be opened (create, amend, rebase, commit).
 */
public final class BackingName {
  private BackingName() {}

  /**
   * The path {@code name}, stored in {@code image}, refers to: as is if absolute, else beside it.
   */
  public static Path resolve(Path image, String name) {
    return BackingFiles.resolve(image, name);
  }

  /**
   * The format of the file {@code name} leads to from {@code image}, as qemu probes it: "qcow2" or
   * "raw"; null when there is no such file.
   */
  public static String probeFormat(Path image, String name) throws IOException {
    Path path = resolve(image, name);
    if (!Files.exists(path)) {
      return null;
    }
    return ImageFormat.isQcow2(path) ? "qcow2" : "raw";
  }
}
