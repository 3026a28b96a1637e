package dev.qcow2;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;
import java.nio.ByteBuffer;

/**
 * zstd clusters: one or more complete frames whose output adds up to one cluster, followed by
 * sector padding. qemu reads them with the streaming API and accepts several frames, so this walks
 * the frames one by one, decoding each straight into the output buffer.
 */
final class ZstdClusterCodec implements ClusterCodec {
  private final ZstdDecompressCtx ctx = new ZstdDecompressCtx();

  @Override
  public boolean decompress(ByteBuffer in, ByteBuffer out) {
    try {
      while (out.hasRemaining()) {
        if (!in.hasRemaining()) {
          return false;
        }
        long frame = Zstd.findFrameCompressedSize(in);
        if (frame <= 0 || frame > in.remaining()) {
          return false;
        }
        int n;
        if (out.isDirect()) {
          n =
              ctx.decompressDirectByteBuffer(
                  out, out.position(), out.remaining(), in, in.position(), (int) frame);
        } else {
          n =
              ctx.decompressDirectByteBufferToByteArray(
                  out.array(),
                  out.arrayOffset() + out.position(),
                  out.remaining(),
                  in,
                  in.position(),
                  (int) frame);
        }
        out.position(out.position() + n);
        in.position(in.position() + (int) frame);
      }
      return true;
    } catch (ZstdException | IllegalArgumentException | IndexOutOfBoundsException e) {
      return false;
    } finally {
      ctx.reset();
    }
  }
}
