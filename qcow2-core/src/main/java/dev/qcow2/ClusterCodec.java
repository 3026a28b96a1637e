package dev.qcow2;

import java.nio.ByteBuffer;

/**
 * Decodes one compressed cluster. Implementations keep native state and are used by one thread at a
 * time (the reader holds one per thread).
 */
interface ClusterCodec {

  /**
   * Decompresses the bytes between {@code in}'s position and limit into exactly {@code
   * out.remaining()} bytes (one cluster). {@code in} is a direct buffer; {@code out} may be direct
   * or on the heap.
   *
   * <p>The input is the compressed size rounded up to whole 512-byte sectors, so it may end with
   * bytes of the next compressed cluster; those are ignored, as qemu ignores them.
   *
   * @return true if exactly one cluster came out, with {@code out}'s position then at its limit;
   *     false if the data is invalid, ends too early or would give more than one cluster
   */
  boolean decompress(ByteBuffer in, ByteBuffer out);

  static ClusterCodec forType(CompressionType type) {
    return type == CompressionType.ZSTD ? new ZstdClusterCodec() : new DeflateClusterCodec();
  }
}
