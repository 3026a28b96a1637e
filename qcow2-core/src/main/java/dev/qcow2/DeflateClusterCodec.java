package dev.qcow2;

import java.nio.ByteBuffer;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Raw deflate (no zlib header or checksum), as qemu's "zlib" compression type stores it. qemu
 * deflates with a 4 KiB window; inflating with the JDK's 32 KiB window reads those streams too.
 * Buffers go to zlib as they are, without copies.
 */
final class DeflateClusterCodec implements ClusterCodec {
  private final Inflater inflater = new Inflater(true);
  private final byte[] probe = new byte[1];

  @Override
  public boolean decompress(ByteBuffer in, ByteBuffer out) {
    inflater.reset();
    inflater.setInput(in);
    try {
      while (out.hasRemaining()) {
        int n = inflater.inflate(out);
        if (n == 0
            && (inflater.finished() || inflater.needsInput() || inflater.needsDictionary())) {
          return false;
        }
      }
      // A stream that goes on past one cluster is not a cluster.
      return inflater.finished() || inflater.inflate(probe) == 0;
    } catch (DataFormatException e) {
      return false;
    }
  }
}
