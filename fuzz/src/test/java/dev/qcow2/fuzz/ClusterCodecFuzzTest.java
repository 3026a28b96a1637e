package dev.qcow2.fuzz;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.github.luben.zstd.Zstd;
import dev.qcow2.CompressionType;
import dev.qcow2.FuzzAccess;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.zip.Deflater;

/**
 * Compressed-cluster decoding, deflate and zstd: arbitrary bytes given to the decoder as one
 * cluster of 512 bytes, 4 KiB, 64 KiB and 2 MiB (the qcow2 range), and valid streams of
 * fuzzer-chosen content that are then damaged. The decoder may only say yes or no: it never throws,
 * never writes past one cluster, and says yes only with exactly one cluster decoded. An undamaged
 * stream must decode to its content.
 */
class ClusterCodecFuzzTest {
  private static final int[] CLUSTER_BITS = {9, 12, 16, 21};

  /** One heap and one direct buffer per cluster size, with a guard area after the cluster. */
  private static final ByteBuffer[] HEAP = new ByteBuffer[CLUSTER_BITS.length];

  private static final ByteBuffer[] DIRECT = new ByteBuffer[CLUSTER_BITS.length];
  private static final int GUARD = 64;

  static {
    for (int i = 0; i < CLUSTER_BITS.length; i++) {
      HEAP[i] = ByteBuffer.allocate((1 << CLUSTER_BITS[i]) + GUARD);
      DIRECT[i] = ByteBuffer.allocateDirect((1 << CLUSTER_BITS[i]) + GUARD);
    }
  }

  @FuzzTest(maxDuration = "30s")
  void decodeDeflateArbitraryBytes(byte[] input) {
    decodeEverySize(CompressionType.ZLIB, input);
  }

  @FuzzTest(maxDuration = "30s")
  void decodeZstdArbitraryBytes(byte[] input) {
    decodeEverySize(CompressionType.ZSTD, input);
  }

  @FuzzTest(maxDuration = "30s")
  void decodeDamagedStream(FuzzedDataProvider data) {
    CompressionType type = data.consumeBoolean() ? CompressionType.ZSTD : CompressionType.ZLIB;
    int size = data.consumeInt(0, CLUSTER_BITS.length - 2);
    int clusterSize = 1 << CLUSTER_BITS[size];
    byte[] pattern = data.consumeBytes(data.consumeInt(1, 64));
    int stride = data.consumeInt(0, 3);
    byte[] content = new byte[clusterSize];
    for (int i = 0; pattern.length > 0 && i < clusterSize; i++) {
      content[i] = (byte) (pattern[i % pattern.length] + (i / pattern.length) * stride);
    }
    byte[] stream = compress(type, content, data.consumeInt(1, 9));
    // qemu stores whole sectors: the stream is followed by padding.
    byte[] padded = Arrays.copyOf(stream, (stream.length + 511) & ~511);
    ByteBuffer out = HEAP[size].duplicate().clear().limit(clusterSize);
    assertTrue(FuzzAccess.decompress(type, padded, out), "a valid stream decodes");
    assertArrayEquals(
        content, Arrays.copyOf(out.array(), clusterSize), "a valid stream decodes to its content");

    int damages = data.consumeInt(1, 4);
    for (int i = 0; i < damages; i++) {
      // Once cut to nothing, only an appended tail can damage it further.
      switch (padded.length == 0 ? 3 : data.consumeInt(0, 3)) {
        case 0 ->
            padded[data.consumeInt(0, padded.length - 1)] ^= (byte) (1 << data.consumeInt(0, 7));
        case 1 -> padded[data.consumeInt(0, padded.length - 1)] = data.consumeByte();
        case 2 -> padded = Arrays.copyOf(padded, data.consumeInt(0, padded.length));
        default -> {
          byte[] tail = data.consumeBytes(data.consumeInt(1, 1024));
          byte[] longer = Arrays.copyOf(padded, padded.length + tail.length);
          System.arraycopy(tail, 0, longer, padded.length, tail.length);
          padded = longer;
        }
      }
    }
    decode(type, padded, size, data.consumeBoolean());
  }

  private static void decodeEverySize(CompressionType type, byte[] input) {
    for (int size = 0; size < CLUSTER_BITS.length; size++) {
      // The reader never hands a codec more than two clusters of input.
      int clusterSize = 1 << CLUSTER_BITS[size];
      byte[] in = input.length <= 2 * clusterSize ? input : Arrays.copyOf(input, 2 * clusterSize);
      decode(type, in, size, (input.length & 1) == 0);
    }
  }

  private static void decode(CompressionType type, byte[] in, int size, boolean direct) {
    int clusterSize = 1 << CLUSTER_BITS[size];
    ByteBuffer all = direct ? DIRECT[size] : HEAP[size];
    all.clear();
    for (int i = 0; i < GUARD; i++) {
      all.put(clusterSize + i, (byte) 0x5a);
    }
    ByteBuffer out = all.duplicate().limit(clusterSize);
    boolean ok = FuzzAccess.decompress(type, in, out);
    for (int i = 0; i < GUARD; i++) {
      assertEquals((byte) 0x5a, all.get(clusterSize + i), "decoding wrote past one cluster");
    }
    assertTrue(out.position() <= clusterSize, "decoded past one cluster");
    if (ok) {
      assertEquals(clusterSize, out.position(), "said yes without exactly one cluster decoded");
    }
  }

  private static byte[] compress(CompressionType type, byte[] content, int level) {
    if (type == CompressionType.ZSTD) {
      return Zstd.compress(content, level);
    }
    // qemu's deflate: raw, with a 4 KiB window; the JDK's 32 KiB window decodes the same streams.
    Deflater deflater = new Deflater(level, true);
    try {
      deflater.setInput(content);
      deflater.finish();
      byte[] buf = new byte[content.length + 1024];
      int n = 0;
      while (!deflater.finished()) {
        n += deflater.deflate(buf, n, buf.length - n);
      }
      return Arrays.copyOf(buf, n);
    } finally {
      deflater.end();
    }
  }
}
