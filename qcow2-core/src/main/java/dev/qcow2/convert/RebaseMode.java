package dev.qcow2.convert;

/** How {@link ImageRebaser} changes an image's backing file. */
public enum RebaseMode {
  /**
   * Keep the disk's content: wherever the image itself holds nothing and the old and new backing
   * files differ, the old content is first copied into the image (qemu-img rebase).
   */
  SAFE,
  /** Rewrite the backing file's name and format only (qemu-img rebase -u). */
  UNSAFE
}
