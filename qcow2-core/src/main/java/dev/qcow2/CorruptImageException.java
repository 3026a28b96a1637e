package dev.qcow2;

/**
 * The image contradicts the qcow2 specification or itself (a misaligned or out-of-file table, an
 * invalid descriptor, compressed data that does not inflate to one cluster).
 */
public class CorruptImageException extends Qcow2Exception {
  private static final long serialVersionUID = 1L;

  public CorruptImageException(String image, Structure structure, long offset, String problem) {
    super(image, structure, offset, problem);
  }

  public CorruptImageException(
      String image, Structure structure, long offset, String problem, Throwable cause) {
    super(image, structure, offset, problem, cause);
  }
}
