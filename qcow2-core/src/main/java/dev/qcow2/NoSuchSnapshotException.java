package dev.qcow2;

/**
 * No internal snapshot of the image matches the id or name asked for (to read, apply or delete). An
 * argument error rather than a damaged image, hence not a {@link Qcow2Exception}.
 */
public final class NoSuchSnapshotException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  /**
   * An exception whose message is qemu-img's: {@code <image>: Can't find the snapshot <which>}.
   *
   * @param image the image's file name
   * @param which the snapshot id or name that matched none
   */
  public NoSuchSnapshotException(String image, String which) {
    super(image + ": Can't find the snapshot " + which);
  }
}
