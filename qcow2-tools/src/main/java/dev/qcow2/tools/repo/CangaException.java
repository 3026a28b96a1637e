package dev.qcow2.tools.repo;

/**
 * A failure canga reports in one line on standard error with exit status 255, as Cangallo's {@code
 * exit(-1)} after a message: an image that is not found, an ambiguous name, a refused deletion.
 * Anything else (configuration errors, I/O errors) is exit status 1.
 */
public final class CangaException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public CangaException(String message) {
    super(message);
  }
}
