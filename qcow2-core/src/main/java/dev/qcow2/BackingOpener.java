package dev.qcow2;

import java.io.IOException;

/**
 * Opens the backing file an image names, for an image that is not a local file (a URL, an object in
 * a store): the library then never resolves the name as a local path. Given to {@link
 * Qcow2Image#open(String, Storage, OpenOptions, BackingOpener)}; it is called only with plain names
 * (protocol and {@code json:} names are refused before), and with the options a backing file is
 * opened with (read-only, no snapshot). It decides where the name leads, which names it refuses,
 * and bounds the depth of the chain it opens.
 */
@FunctionalInterface
public interface BackingOpener {

  /**
   * Opens the backing file {@code name} as its image stores it.
   *
   * @param name the backing file name exactly as the image stores it; never null or empty
   * @param format the backing format the image names ("qcow2", "raw"), or null to detect it
   * @param options the options to open it with: read-only, no snapshot, the overlay's limits
   * @return the opened image, which the overlay then owns and closes
   * @throws IOException if the file cannot be reached or read, or the name is refused
   */
  DiskImage open(String name, String format, OpenOptions options) throws IOException;

  /**
   * The full name of backing file {@code name}, as {@code qemu-img info} reports it.
   *
   * @param name the backing file name as the image stores it
   * @return the name it leads to (a URL, say); by default {@code name} itself
   */
  default String resolve(String name) {
    return name;
  }
}
