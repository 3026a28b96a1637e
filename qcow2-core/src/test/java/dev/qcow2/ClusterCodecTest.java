package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.luben.zstd.Zstd;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.Deflater;
import org.junit.jupiter.api.Test;

/**
 * Both codecs against crafted streams: exactly one cluster decodes, and anything that gives less,
 * more or nothing is refused without an exception. Inputs are direct buffers, as the reader passes
 * them; outputs are tried on the heap and direct.
 */
class ClusterCodecTest {
  private static final int CLUSTER = 65536;

  @Test
  void deflateExactlyOneClusterWithTrailingBytesOfTheNextCluster() {
    byte[] data = content(CLUSTER);
    byte[] stream = concat(deflate(data), filled(700, (byte) 0x5a));
    assertDecodes(new DeflateClusterCodec(), stream, data);
  }

  @Test
  void deflateStreamShorterThanOneCluster() {
    assertRefused(new DeflateClusterCodec(), deflate(content(CLUSTER - 1)));
  }

  @Test
  void deflateStreamLongerThanOneCluster() {
    assertRefused(new DeflateClusterCodec(), deflate(content(CLUSTER + 1)));
  }

  @Test
  void deflateStreamTruncated() {
    byte[] stream = deflate(content(CLUSTER));
    assertRefused(new DeflateClusterCodec(), Arrays.copyOf(stream, stream.length / 2));
  }

  @Test
  void deflateReservedBlockType() {
    assertRefused(new DeflateClusterCodec(), filled(4096, (byte) 0xff));
  }

  @Test
  void deflateEmptyInput() {
    assertRefused(new DeflateClusterCodec(), new byte[0]);
  }

  @Test
  void zstdExactlyOneClusterWithSectorPadding() {
    byte[] data = content(CLUSTER);
    assertDecodes(new ZstdClusterCodec(), concat(Zstd.compress(data), new byte[300]), data);
  }

  @Test
  void zstdTwoFramesMakingOneCluster() {
    byte[] data = content(CLUSTER);
    byte[] stream =
        concat(
            Zstd.compress(Arrays.copyOfRange(data, 0, 10000)),
            Zstd.compress(Arrays.copyOfRange(data, 10000, CLUSTER)));
    assertDecodes(new ZstdClusterCodec(), stream, data);
  }

  @Test
  void zstdFrameShorterThanOneClusterFollowedByPadding() {
    assertRefused(
        new ZstdClusterCodec(), concat(Zstd.compress(content(CLUSTER - 1)), new byte[512]));
  }

  @Test
  void zstdFrameLongerThanOneCluster() {
    assertRefused(new ZstdClusterCodec(), Zstd.compress(content(CLUSTER + 1)));
  }

  @Test
  void zstdFrameTruncated() {
    byte[] stream = Zstd.compress(content(CLUSTER));
    assertRefused(new ZstdClusterCodec(), Arrays.copyOf(stream, stream.length / 2));
  }

  @Test
  void zstdGarbage() {
    assertRefused(new ZstdClusterCodec(), filled(4096, (byte) 0xa5));
  }

  @Test
  void zstdEmptyInput() {
    assertRefused(new ZstdClusterCodec(), new byte[0]);
  }

  @Test
  void codecIsReusableAfterARefusal() {
    byte[] data = content(CLUSTER);
    ClusterCodec zstd = new ZstdClusterCodec();
    assertFalse(zstd.decompress(direct(filled(100, (byte) 0xa5)), ByteBuffer.allocate(CLUSTER)));
    assertDecodes(zstd, Zstd.compress(data), data);
    ClusterCodec deflate = new DeflateClusterCodec();
    assertFalse(deflate.decompress(direct(filled(100, (byte) 0xff)), ByteBuffer.allocate(CLUSTER)));
    assertDecodes(deflate, deflate(data), data);
  }

  private static void assertDecodes(ClusterCodec codec, byte[] stream, byte[] expected) {
    for (ByteBuffer out :
        new ByteBuffer[] {ByteBuffer.allocate(CLUSTER), ByteBuffer.allocateDirect(CLUSTER)}) {
      String kind = out.isDirect() ? "direct" : "heap";
      assertTrue(codec.decompress(direct(stream), out), "decodes into a " + kind + " buffer");
      assertEquals(CLUSTER, out.position(), "output position");
      assertEquals(ByteBuffer.wrap(expected), out.flip());
    }
  }

  private static void assertRefused(ClusterCodec codec, byte[] stream) {
    for (ByteBuffer out :
        new ByteBuffer[] {ByteBuffer.allocate(CLUSTER), ByteBuffer.allocateDirect(CLUSTER)}) {
      boolean ok =
          assertTimeoutPreemptively(
              Duration.ofSeconds(10), () -> codec.decompress(direct(stream), out));
      assertFalse(ok, "refused into a " + (out.isDirect() ? "direct" : "heap") + " buffer");
    }
  }

  private static ByteBuffer direct(byte[] b) {
    return ByteBuffer.allocateDirect(b.length).put(b).flip();
  }

  /** Compressible but not trivial, so both codecs produce real back-references and literals. */
  private static byte[] content(int length) {
    byte[] b = new byte[length];
    Random r = new Random(length);
    for (int i = 0; i < length; i++) {
      b[i] = (i & 4096) == 0 ? (byte) r.nextInt(16) : (byte) (i % 251);
    }
    return b;
  }

  private static byte[] deflate(byte[] data) {
    Deflater d = new Deflater(6, true);
    try {
      d.setInput(data);
      d.finish();
      byte[] out = new byte[data.length + 1024];
      int n = d.deflate(out);
      assertTrue(d.finished());
      return Arrays.copyOf(out, n);
    } finally {
      d.end();
    }
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] c = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, c, a.length, b.length);
    return c;
  }

  private static byte[] filled(int length, byte value) {
    byte[] b = new byte[length];
    Arrays.fill(b, value);
    return b;
  }
}
