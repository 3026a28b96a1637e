package dev.qcow2.convert;

/** How {@link ImageRebaser} changes an image's backing file. */
public enum RebaseMode {
  /**
   * Keep the disk's content: wherever the image itself holds nothing and the old and new backing
   * files differ, the old content is first copied into the image (qemu-img rebase).
   */
  SAFE,
  /**
   * As {@link #SAFE}, but the clusters copied into the image are written compressed with the
   * image's compression type, each whole cluster that holds copied bytes (qemu-img rebase -c, since
   * qemu 8.2). What the image held before stays as it was; a cluster that does not shrink is stored
   * plainly.
   */
  SAFE_COMPRESSED,
  /** Rewrite the backing file's name and format only (qemu-img rebase -u). */
  UNSAFE
}
