package dev.qcow2;

/**
 * A value the format allows but the open options refuse, so that memory and time stay bounded (a
 * huge L1 table, a deep backing chain).
 */
public class ImageLimitException extends Qcow2Exception {
  private static final long serialVersionUID = 1L;

  public ImageLimitException(String image, Structure structure, long offset, String problem) {
    super(image, structure, offset, problem);
  }

  public ImageLimitException(
      String image, Structure structure, long offset, String problem, Throwable cause) {
    super(image, structure, offset, problem, cause);
  }
}
