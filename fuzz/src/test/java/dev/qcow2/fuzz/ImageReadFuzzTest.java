package dev.qcow2.fuzz;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.qcow2.BlockStatus;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Exception;
import dev.qcow2.Qcow2Image;
import dev.qcow2.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * Arbitrary bytes opened as a qcow2 image held in memory, then every run of the disk mapped and a
 * bounded part of it read. Only the library's typed exceptions may come out; anything else
 * (an unchecked exception, an OutOfMemoryError, a hang) is a finding.
 *
 * <p>A plain {@code mvn verify} replays the inputs under {@code src/test/resources}; set
 * {@code JAZZER_FUZZ=1} to fuzz.
 */
class ImageReadFuzzTest {
  private static final OpenOptions OPTIONS =
      OpenOptions.builder()
          .openBacking(false)
          .l2CacheSize(1 << 20)
          .maxL1Entries(1 << 16)
          .maxSnapshots(1024)
          // An image may name any file as its external data file; fuzzing must never open one.
          .allowBackingIn(Path.of("/nonexistent/qcow2-fuzz"))
          .build();

  @FuzzTest(maxDuration = "30s")
  void openAndReadArbitraryBytes(byte[] input) throws IOException {
    Storage storage = Storage.inMemory("fuzz.qcow2", input);
    try (Qcow2Image image = Qcow2Image.open(Path.of("fuzz.qcow2"), storage, OPTIONS)) {
      long size = Math.min(image.size(), 64L << 20);
      ByteBuffer buffer = ByteBuffer.allocate(64 << 10);
      long at = 0;
      int runs = 0;
      while (at < size && runs++ < 10_000) {
        BlockStatus status = image.blockStatus(at, size - at);
        assertTrue(status.length() > 0, "a run has a length");
        buffer.clear().limit((int) Math.min(buffer.capacity(), status.length()));
        image.read(buffer, at);
        at += status.length();
      }
    } catch (Qcow2Exception expected) {
      // A typed refusal is the right outcome for a bad image.
    }
  }
}
