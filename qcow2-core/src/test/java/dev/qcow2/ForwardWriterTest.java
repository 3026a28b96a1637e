package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.WritableByteChannel;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The forward writer holds the data to its plan: a second pass that disagrees fails loudly. */
class ForwardWriterTest {
  private static final int CS = 65536;

  private static ByteBuffer cluster(int fill, int every) {
    byte[] b = new byte[CS];
    for (int i = 0; i < CS; i += every) {
      b[i] = (byte) fill;
    }
    return ByteBuffer.wrap(b);
  }

  @Test
  @Timeout(30)
  void aCompressedClusterOfAnotherLengthThanPlannedFails() throws IOException {
    ForwardWriter w =
        ForwardWriter.headFirst(
            CreateOptions.builder(4L * CS).compressionType(CompressionType.ZSTD).build());
    try (ClusterCompressor c = w.newCompressor()) {
      CompressedCluster planned = c.compressCluster(cluster(1, 7));
      CompressedCluster other = c.compressCluster(cluster(2, 3));
      assertNotEquals(planned.length(), other.length());
      w.plan(CS, planned.length());
      WritableByteChannel out = Channels.newChannel(new ByteArrayOutputStream());
      ByteBuffer head = w.head();
      out.write(head);
      IOException e = assertThrows(IOException.class, () -> w.writeCompressed(CS, other, out));
      assertTrue(e.getMessage().contains("compression is not deterministic"), e.getMessage());
    }
  }

  @Test
  @Timeout(30)
  void aClusterThatWasNotPlannedFails() throws IOException {
    ForwardWriter w = ForwardWriter.headFirst(CreateOptions.builder(4L * CS).build());
    w.plan(2L * CS, CS);
    WritableByteChannel out = Channels.newChannel(new ByteArrayOutputStream());
    w.head();
    IOException e = assertThrows(IOException.class, () -> w.writeData(0, cluster(1, 1), out));
    assertTrue(e.getMessage().contains("was not planned"), e.getMessage());
  }

  @Test
  @Timeout(30)
  void dataThatEndsEarlyFails() throws IOException {
    ForwardWriter w = ForwardWriter.headFirst(CreateOptions.builder(4L * CS).build());
    w.plan(0, CS);
    w.plan(3L * CS, CS);
    WritableByteChannel out = Channels.newChannel(new ByteArrayOutputStream());
    w.head();
    w.writeData(0, cluster(1, 1), out);
    IOException e = assertThrows(IOException.class, () -> w.tail(out));
    assertTrue(e.getMessage().contains("1 of the 2 planned"), e.getMessage());
  }

  @Test
  @Timeout(30)
  void headFirstAndHeadLastPlaceTheSameData() throws IOException {
    CreateOptions o = CreateOptions.builder(64L * CS).build();
    ForwardWriter first = ForwardWriter.headFirst(o);
    ForwardWriter last = ForwardWriter.headLast(o);
    first.plan(5L * CS, CS);
    ByteArrayOutputStream a = new ByteArrayOutputStream();
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    WritableByteChannel outA = Channels.newChannel(a);
    outA.write(first.head());
    first.writeData(5L * CS, cluster(9, 1), outA);
    first.tail(outA);
    last.writeData(5L * CS, cluster(9, 1), Channels.newChannel(b));
    last.tail(Channels.newChannel(b));
    ByteBuffer head = last.head();
    assertEquals(last.headLength(), head.remaining());
    // The same single data cluster, right after each writer's head.
    byte[] x = a.toByteArray();
    byte[] y = b.toByteArray();
    int headA = (int) first.headLength();
    assertTrue(Arrays.equals(x, headA, headA + CS, y, 0, CS));
  }
}
