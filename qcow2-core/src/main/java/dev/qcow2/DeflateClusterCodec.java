package dev.qcow2;

import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Raw deflate (no zlib header or checksum), as qemu's "zlib" compression type stores it. qemu
 * deflates with a 4 KiB window; inflating with the JDK's 32 KiB window reads those streams too.
 */
final class DeflateClusterCodec implements ClusterCodec {
  private final Inflater inflater = new Inflater(true);
  private final byte[] probe = new byte[1];

  @Override
  public boolean decompress(byte[] in, int inLength, byte[] out) {
    inflater.reset();
    inflater.setInput(in, 0, inLength);
    try {
      int produced = 0;
      while (produced < out.length) {
        int n = inflater.inflate(out, produced, out.length - produced);
        if (n == 0) {
          if (inflater.finished() || inflater.needsInput() || inflater.needsDictionary()) {
            return false;
          }
        }
        produced += n;
      }
      // A stream that goes on past one cluster is not a cluster.
      return inflater.finished() || inflater.inflate(probe) == 0;
    } catch (DataFormatException e) {
      return false;
    }
  }
}
