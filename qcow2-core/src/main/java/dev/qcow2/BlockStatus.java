package dev.qcow2;

/**
 * What a run of guest bytes is, through the whole backing chain: the unit of {@code map}, convert
 * and hash. Field names follow qemu-img's {@code map --output=json}.
 *
 * @param start guest offset of the run
 * @param length length of the run in bytes, at least 1
 * @param depth how many backing levels down the bytes were found (the bottom image's depth when no
 *     image in the chain has them)
 * @param present whether some image of the chain allocates the run
 * @param zero whether the run reads as zeros
 * @param data whether the run holds data (not just zeros)
 * @param compressed whether the data is stored compressed
 * @param hostOffset where the bytes lie in the file named by {@code file}, or -1 when they are not
 *     stored as plain bytes (compressed, or not stored)
 * @param file the file name of the image at {@code depth}
 */
public record BlockStatus(
    long start,
    long length,
    int depth,
    boolean present,
    boolean zero,
    boolean data,
    boolean compressed,
    long hostOffset,
    String file) {

  /**
   * Whether the run's bytes lie plainly in a file, at {@link #hostOffset()}.
   *
   * @return true when {@code hostOffset} is 0 or more
   */
  public boolean hasHostOffset() {
    return hostOffset >= 0;
  }

  /** This run moved down the chain by one level, as the backing file's status appears above it. */
  BlockStatus below() {
    return new BlockStatus(
        start, length, depth + 1, present, zero, data, compressed, hostOffset, file);
  }
}
