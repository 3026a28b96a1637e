package dev.qcow2;

/**
 * A run of guest bytes that a dirty bitmap marks as changed: whole granules, cut at the end of the
 * disk.
 *
 * @param offset the guest offset of the run's first byte
 * @param length the run's length in bytes
 */
public record BitmapExtent(long offset, long length) {}
