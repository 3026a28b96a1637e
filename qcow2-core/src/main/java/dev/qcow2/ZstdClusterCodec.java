package dev.qcow2;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;

/**
 * zstd clusters: one or more complete frames whose output adds up to one cluster, followed by
 * sector padding. qemu reads them with the streaming API and accepts several frames, so this walks
 * the frames one by one.
 */
final class ZstdClusterCodec implements ClusterCodec {
  private final ZstdDecompressCtx ctx = new ZstdDecompressCtx();

  @Override
  public boolean decompress(byte[] in, int inLength, byte[] out) {
    int inPos = 0;
    int outPos = 0;
    try {
      while (outPos < out.length) {
        if (inPos >= inLength) {
          return false;
        }
        long frame = Zstd.findFrameCompressedSize(in, inPos, inLength - inPos);
        if (frame <= 0 || Zstd.isError(frame) || frame > inLength - inPos) {
          return false;
        }
        int n = ctx.decompressByteArray(out, outPos, out.length - outPos, in, inPos, (int) frame);
        outPos += n;
        inPos += (int) frame;
      }
      return true;
    } catch (ZstdException | IllegalArgumentException | ArrayIndexOutOfBoundsException e) {
      return false;
    } finally {
      ctx.reset();
    }
  }
}
