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

  /** The file name of the image that holds the bad structure. */
  private final String image;

  /** The structure that holds the bad value. */
  private final Structure structure;

  /** The byte offset in the image file of the bad value, or -1. */
  private final long offset;

  /**
   * An exception whose message is {@code <image>: <structure> <problem> at offset 0x<hex>}.
   *
   * @param image the image's file name, as the caller named it
   * @param structure the structure that holds the bad value; not null
   * @param offset the byte offset in the image file of the bad value, or -1 when none applies (the
   *     message then names no offset)
   * @param problem what is wrong, in words that follow the structure's name
   */
  public Qcow2Exception(String image, Structure structure, long offset, String problem) {
    this(image, structure, offset, problem, null);
  }

  /**
   * An exception as {@link #Qcow2Exception(String, Structure, long, String)} makes, caused by
   * {@code cause}.
   *
   * @param image the image's file name, as the caller named it
   * @param structure the structure that holds the bad value; not null
   * @param offset the byte offset in the image file of the bad value, or -1 when none applies
   * @param problem what is wrong, in words that follow the structure's name
   * @param cause the lower-level failure that revealed the problem; may be null
   */
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

  /**
   * The image that holds the bad structure.
   *
   * @return its file name, as it was given when the image was opened
   */
  public String image() {
    return image;
  }

  /**
   * The structure that holds the bad value, which the message names in words.
   *
   * @return the structure; never null
   */
  public Structure structure() {
    return structure;
  }

  /**
   * Where the problem was found.
   *
   * @return the byte offset in the image file (not the guest disk), or -1 if none applies
   */
  public long offset() {
    return offset;
  }
}
