package dev.qcow2;

import java.io.IOException;

/**
 * A problem with an image's content: it is corrupt, uses a feature we do not support, or asks for
 * more than the open options allow. Every such exception names the image, the structure and the
 * offset in the image file where the bad value was found.
 *
 * <p>Messages have one shape: {@code <image>: <structure> <what is wrong> at offset 0x<hex>}.
 */
public class Qcow2Exception extends IOException {
  private static final long serialVersionUID = 1L;

  private final String image;
  private final Structure structure;
  private final long offset;

  public Qcow2Exception(String image, Structure structure, long offset, String problem) {
    this(image, structure, offset, problem, null);
  }

  public Qcow2Exception(
      String image, Structure structure, long offset, String problem, Throwable cause) {
    super(format(image, structure, offset, problem), cause);
    this.image = image;
    this.structure = structure;
    this.offset = offset;
  }

  private static String format(String image, Structure structure, long offset, String problem) {
    String where = offset >= 0 ? " at offset 0x" + Long.toHexString(offset) : "";
    return image + ": " + structure.text() + " " + problem + where;
  }

  /** The file name of the image that holds the bad structure. */
  public String image() {
    return image;
  }

  public Structure structure() {
    return structure;
  }

  /** The byte offset in the image file where the problem was found, or -1 if none applies. */
  public long offset() {
    return offset;
  }
}
