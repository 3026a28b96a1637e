package dev.qcow2.nbd;

import java.nio.ByteBuffer;

/**
 * One transmission request as the client sent it: the 28-byte header, and the payload of a write.
 *
 * @param length unsigned 32-bit length, as a long
 * @param payload the data of NBD_CMD_WRITE, null for other commands
 */
record Request(int flags, int type, long cookie, long offset, long length, ByteBuffer payload) {
  boolean has(int flag) {
    return (flags & flag) != 0;
  }

  /**
   * Whether [offset, offset + length) lies inside a disk of {@code size} bytes; the offset is
   * unsigned.
   */
  boolean inside(long size) {
    return offset >= 0 && offset <= size && length <= size - offset;
  }
}
