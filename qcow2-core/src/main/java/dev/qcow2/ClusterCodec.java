package dev.qcow2;

/**
 * Decodes one compressed cluster. Implementations keep per-thread state and are used by one thread
 * at a time (the reader holds one per thread).
 */
interface ClusterCodec {

  /**
   * Decompresses {@code in[0..inLength)} into exactly {@code out.length} bytes.
   *
   * <p>The input is the compressed size rounded up to whole 512-byte sectors, so it may end with
   * bytes of the next compressed cluster; those are ignored, as qemu ignores them.
   *
   * @return true if exactly {@code out.length} bytes came out; false if the data is invalid, ends
   *     too early or would inflate to more than one cluster
   */
  boolean decompress(byte[] in, int inLength, byte[] out);

  static ClusterCodec forType(CompressionType type) {
    return type == CompressionType.ZSTD ? new ZstdClusterCodec() : new DeflateClusterCodec();
  }
}
