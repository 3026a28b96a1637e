package dev.qcow2.nbd;

import java.nio.ByteBuffer;

/**
 * Encodes transmission replies: the simple reply (16-byte header, then read data if any) and the
 * structured reply chunk (20-byte header, then the chunk's payload).
 */
final class Replies {
  private Replies() {}

  static ByteBuffer simple(long cookie, int error) {
    return ByteBuffer.allocate(16)
        .putInt(Nbd.SIMPLE_REPLY_MAGIC)
        .putInt(error)
        .putLong(cookie)
        .flip();
  }

  /** The header of a structured chunk whose payload, {@code length} bytes, follows. */
  static ByteBuffer chunk(long cookie, boolean done, int type, int length) {
    return ByteBuffer.allocate(20)
        .putInt(Nbd.STRUCTURED_REPLY_MAGIC)
        .putShort((short) (done ? Nbd.REPLY_FLAG_DONE : 0))
        .putShort((short) type)
        .putLong(cookie)
        .putInt(length)
        .flip();
  }

  /**
   * Header and offset of an NBD_REPLY_TYPE_OFFSET_DATA chunk; {@code length} bytes of data follow.
   */
  static ByteBuffer offsetData(long cookie, boolean done, long offset, int length) {
    return ByteBuffer.allocate(28)
        .put(chunk(cookie, done, Nbd.REPLY_TYPE_OFFSET_DATA, 8 + length))
        .putLong(offset)
        .flip();
  }

  static ByteBuffer offsetHole(long cookie, boolean done, long offset, int length) {
    return ByteBuffer.allocate(32)
        .put(chunk(cookie, done, Nbd.REPLY_TYPE_OFFSET_HOLE, 12))
        .putLong(offset)
        .putInt(length)
        .flip();
  }

  static ByteBuffer none(long cookie) {
    return chunk(cookie, true, Nbd.REPLY_TYPE_NONE, 0);
  }

  /** A final NBD_REPLY_TYPE_ERROR chunk with a message for people. */
  static ByteBuffer error(long cookie, int error, String message) {
    byte[] m = Handshake.utf8(message.length() > 1024 ? message.substring(0, 1024) : message);
    return ByteBuffer.allocate(26 + m.length)
        .put(chunk(cookie, true, Nbd.REPLY_TYPE_ERROR, 6 + m.length))
        .putInt(error)
        .putShort((short) m.length)
        .put(m)
        .flip();
  }

  /** An NBD_REPLY_TYPE_BLOCK_STATUS chunk: the context id, then (length, status) pairs. */
  static ByteBuffer blockStatus(long cookie, boolean done, int contextId, long[] pairs) {
    int length = 4 + 4 * pairs.length;
    ByteBuffer b =
        ByteBuffer.allocate(20 + length)
            .put(chunk(cookie, done, Nbd.REPLY_TYPE_BLOCK_STATUS, length))
            .putInt(contextId);
    for (long v : pairs) {
      b.putInt((int) v);
    }
    return b.flip();
  }
}
