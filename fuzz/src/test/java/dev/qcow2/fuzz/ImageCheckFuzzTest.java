package dev.qcow2.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.qcow2.ImageChecker;
import dev.qcow2.Qcow2Exception;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Arbitrary bytes checked and repaired as qemu-img check -r all would: only the library's typed
 * exceptions may come out, and after a repair that reports success the image must check clean.
 */
class ImageCheckFuzzTest {

  @FuzzTest(maxDuration = "30s")
  void checkAndRepairArbitraryBytes(byte[] input) throws IOException {
    Path file = Files.createTempFile("fuzz-check", ".qcow2");
    try {
      Files.write(file, input);
      ImageChecker.check(file, ImageChecker.Repair.NONE);
      var repaired = ImageChecker.check(file, ImageChecker.Repair.ALL);
      if (!repaired.isClean()) {
        throw new AssertionError("not clean after -r all: " + repaired.messages());
      }
    } catch (Qcow2Exception expected) {
      // A typed refusal is the right outcome for a bad image.
    } finally {
      Files.deleteIfExists(file);
    }
  }
}
