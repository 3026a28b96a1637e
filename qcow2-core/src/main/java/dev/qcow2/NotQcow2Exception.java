package dev.qcow2;

/** The file is not a qcow2 image although a qcow2 image was asked for. */
public class NotQcow2Exception extends Qcow2Exception {
  private static final long serialVersionUID = 1L;

  public NotQcow2Exception(String image, Structure structure, long offset, String problem) {
    super(image, structure, offset, problem);
  }

  public NotQcow2Exception(
      String image, Structure structure, long offset, String problem, Throwable cause) {
    super(image, structure, offset, problem, cause);
  }
}
