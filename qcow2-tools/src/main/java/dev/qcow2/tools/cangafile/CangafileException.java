package dev.qcow2.tools.cangafile;

/**
 * A Cangafile that cannot be built, found before anything is created; the message names the line.
 */
public final class CangafileException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  public CangafileException(String message) {
    super(message);
  }
}
