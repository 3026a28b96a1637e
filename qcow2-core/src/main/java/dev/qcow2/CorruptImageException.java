package dev.qcow2;

/**
 * The image contradicts the qcow2 specification or itself (a misaligned or out-of-file table, an
 * invalid descriptor, compressed data that does not inflate to one cluster).
 */
public class CorruptImageException extends Qcow2Exception {
  private static final long serialVersionUID = 1L;

  /**
   * An exception with the message {@link Qcow2Exception} describes.
   *
   * @param image the image's file name, as the caller named it
   * @param structure the structure that holds the bad value; not null
   * @param offset the byte offset in the image file of the bad value, or -1 when none applies
   * @param problem what is wrong, in words that follow the structure's name
   */
  public CorruptImageException(String image, Structure structure, long offset, String problem) {
    super(image, structure, offset, problem);
  }

  /**
   * An exception with the message {@link Qcow2Exception} describes, caused by {@code cause}.
   *
   * @param image the image's file name, as the caller named it
   * @param structure the structure that holds the bad value; not null
   * @param offset the byte offset in the image file of the bad value, or -1 when none applies
   * @param problem what is wrong, in words that follow the structure's name
   * @param cause the lower-level failure that revealed the problem; may be null
   */
  public CorruptImageException(
      String image, Structure structure, long offset, String problem, Throwable cause) {
    super(image, structure, offset, problem, cause);
  }
}
