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
   * Only the name is looked at: neither file needs to exist.
   *
   * @param image the image that stores (or will store) the name
   * @param name the backing file name as stored; not null
   * @return {@code name} as a path if absolute, else resolved against {@code image}'s folder
   */
  public static Path resolve(Path image, String name) {
    return BackingFiles.resolve(image, name);
  }

  /**
   * The format of the file {@code name} leads to from {@code image}, as qemu probes it: a file that
   * starts with qcow2's magic is qcow2, any other file raw.
   *
   * @param image the image that stores (or will store) the name
   * @param name the backing file name as stored; not null
   * @return "qcow2" or "raw"; null when there is no such file
   * @throws IOException if the file exists but its first bytes cannot be read
   */
  public static String probeFormat(Path image, String name) throws IOException {
    Path path = resolve(image, name);
    if (!Files.exists(path)) {
      return null;
    }
    return ImageFormat.isQcow2(path) ? "qcow2" : "raw";
  }
}
