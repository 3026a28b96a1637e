package dev.qcow2;

/**
 * A valid image that uses something this library does not implement (an unknown incompatible
 * feature bit, encryption), or a name that must not be followed (a protocol or JSON pseudo-file).
 */
public class UnsupportedImageException extends Qcow2Exception {
  private static final long serialVersionUID = 1L;

  public UnsupportedImageException(String image, Structure structure, long offset, String problem) {
    super(image, structure, offset, problem);
  }

  public UnsupportedImageException(
      String image, Structure structure, long offset, String problem, Throwable cause) {
    super(image, structure, offset, problem, cause);
  }
}
