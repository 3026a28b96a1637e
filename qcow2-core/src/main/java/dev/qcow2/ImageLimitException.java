package dev.qcow2;

/**
 * A value the format allows but the open options refuse, so that memory and time stay bounded (a
 * huge L1 table, a deep backing chain).
 */
public class ImageLimitException extends Qcow2Exception {
  private static final long serialVersionUID = 1L;

  /**
   * An exception with the message {@link Qcow2Exception} describes.
   *
   * @param image the image's file name, as the caller named it
   * @param structure the structure that holds the bad value; not null
   * @param offset the byte offset in the image file of the bad value, or -1 when none applies
   * @param problem what is wrong, in words that follow the structure's name
   */
  public ImageLimitException(String image, Structure structure, long offset, String problem) {
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
  public ImageLimitException(
      String image, Structure structure, long offset, String problem, Throwable cause) {
    super(image, structure, offset, problem, cause);
  }
}
