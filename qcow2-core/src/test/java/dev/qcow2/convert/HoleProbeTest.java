package dev.qcow2.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.DiskImage;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The probe that finds zero chunks of a raw source ahead of the workers. */
class HoleProbeTest {
  private static final int CHUNK = 1 << 20;

  @Test
  void findsExactlyTheChunksThatReadAsZerosWithinItsLimits(@TempDir Path dir) throws IOException {
    Path raw = dir.resolve("src.raw");
    try (RandomAccessFile f = new RandomAccessFile(raw.toFile(), "rw")) {
      f.setLength(5L * CHUNK + 4096); // chunk 5 is a short last chunk
      f.seek(0);
      f.write(1); // chunk 0: data in its first byte
      f.seek(3L * CHUNK - 1);
      f.write(2); // chunk 2: data in its last byte only
      f.seek(4L * CHUNK + 100_000);
      f.write(3); // chunk 4: data in its second piece
    }
    try (DiskImage src = DiskImage.open(raw)) {
      HoleProbe probe = new HoleProbe(src, CHUNK);
      ByteBuffer scratch = ByteBuffer.allocateDirect(HoleProbe.PIECE);
      // Nothing at or past the limit is probed.
      assertFalse(probe.probeNext(0, 0, scratch));
      for (int i = 0; i < 3; i++) {
        assertTrue(probe.probeNext(0, 3, scratch));
      }
      assertFalse(probe.probeNext(0, 3, scratch));
      // Chunks already claimed are skipped: probing resumes at the claimed frontier.
      assertTrue(probe.probeNext(4, 100, scratch));
      assertTrue(probe.probeNext(4, 100, scratch));
      assertFalse(probe.probeNext(4, 100, scratch), "only 6 chunks");
      boolean[] zero = new boolean[6];
      for (int c = 0; c < 6; c++) {
        zero[c] = probe.takeZero(c);
      }
      assertEquals(
          "[false, true, false, false, false, true]",
          java.util.Arrays.toString(zero),
          "chunk 3 was never probed; chunks 1 and 5 read as zeros");
      assertFalse(probe.takeZero(1), "a chunk is handed out once");
    }
  }
}
