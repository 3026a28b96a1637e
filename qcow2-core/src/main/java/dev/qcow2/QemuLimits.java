package dev.qcow2;

/**
 * Bounds qemu sets on what the format itself would allow, kept here once so that creating, growing
 * and opening an image all hold the same line.
 */
final class QemuLimits {
  private QemuLimits() {}

  /**
   * QCOW_MAX_L1_SIZE: an L1 table of at most 32 MiB, so 4 Mi entries of 8 bytes. qemu refuses to
   * create or grow an image past it ("try using a larger cluster size") and to open one beyond it.
   */
  static final long MAX_L1_ENTRIES = (32L << 20) / 8;
}
