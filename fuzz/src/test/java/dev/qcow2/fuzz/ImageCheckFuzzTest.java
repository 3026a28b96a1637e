package dev.qcow2.fuzz;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.qcow2.CheckReport;
import dev.qcow2.ImageChecker;
import dev.qcow2.Qcow2Exception;
import dev.qcow2.fuzz.SeedImage.Kind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * check and check -r all, on a copy: arbitrary bytes, and seed images with any of their structures
 * mutated. Only the library's typed exceptions may come out; after a repair that completes the
 * image must check clean, but for what qemu cannot repair either: a cluster referenced more often
 * than its refcount width counts, which must then hold the largest count (never a wrapped one: 0
 * would make it free), and metadata structures that share a cluster, which -r all must leave
 * exactly as they are (any write for one would change the other) while the report keeps naming the
 * overlap. Every unchanged seed (qemu-made) must check clean.
 */
class ImageCheckFuzzTest {

  @FuzzTest(maxDuration = "30s")
  void checkAndRepairArbitraryBytes(byte[] input) throws IOException {
    checkAndRepair(input);
  }

  @FuzzTest(maxDuration = "30s")
  void checkAndRepairMutatedSeed(FuzzedDataProvider data) throws IOException {
    if (data.remainingBytes() == 0) {
      for (SeedImage seed : Seeds.all()) {
        Path file = copy(seed.bytes());
        try {
          CheckReport report = ImageChecker.check(file, ImageChecker.Repair.NONE);
          assertTrue(report.isClean(), () -> seed.name() + " is not clean: " + report.messages());
        } finally {
          Files.deleteIfExists(file);
        }
      }
      return;
    }
    SeedImage seed = Mutator.pick(data, Seeds.all());
    checkAndRepair(Mutator.mutate(data, seed, Kind.values()));
  }

  private static void checkAndRepair(byte[] image) throws IOException {
    Path file = copy(image);
    try {
      CheckReport first = ImageChecker.check(file, ImageChecker.Repair.NONE);
      byte[] before = Files.readAllBytes(file);
      CheckReport repaired = ImageChecker.check(file, ImageChecker.Repair.ALL);
      if (repaired.messages().stream().anyMatch(ImageCheckFuzzTest::isOverlap)) {
        assertArrayEquals(
            before, Files.readAllBytes(file), "-r all wrote to an image with overlapping metadata");
        assertEquals(
            first.messages(), repaired.messages(), "the report of an image left as it is changed");
        assertEquals(
            0, repaired.corruptionsFixed() + repaired.leaksFixed(), "repairs counted but not made");
        return;
      }
      long max = maxRefcount(Files.readAllBytes(file));
      boolean overflow = repaired.messages().stream().anyMatch(m -> isOverflow(m, max));
      for (String m : repaired.messages()) {
        // An overflowing cluster keeps COPIED clear (it is shared), which check then also names.
        boolean allowed =
            isOverflow(m, max)
                || overflow && m.startsWith("ERROR OFLAG_COPIED") && m.endsWith("refcount=" + max);
        assertTrue(allowed, () -> "not clean after -r all: " + repaired.messages());
      }
      assertTrue(repaired.leaks() == 0, () -> "leaks after -r all: " + repaired.messages());
    } catch (Qcow2Exception expected) {
      // A typed refusal is the right outcome for an image check cannot read.
    } finally {
      Files.deleteIfExists(file);
    }
  }

  private static boolean isOverlap(String message) {
    return message.startsWith("ERROR cluster ")
        && message.endsWith("(metadata overlap; -r all leaves the image as it is)");
  }

  private static final Pattern REFCOUNT =
      Pattern.compile("ERROR cluster \\d+ refcount=(\\d+) reference=(\\d+)");

  /**
   * The one problem -r all may leave, as qemu leaves it: a cluster referenced more often than the
   * refcount width can count (twice, with refcount_bits=1), stored at the largest count it holds.
   */
  private static boolean isOverflow(String message, long max) {
    Matcher m = REFCOUNT.matcher(message);
    return m.matches() && Long.parseLong(m.group(1)) == max && Long.parseLong(m.group(2)) > max;
  }

  private static long maxRefcount(byte[] file) {
    ByteBuffer b = ByteBuffer.wrap(file);
    int order = file.length >= 100 && b.getInt(4) == 3 ? b.getInt(96) : 4;
    return order >= 6 ? Long.MAX_VALUE : (1L << (1 << order)) - 1;
  }

  private static Path copy(byte[] image) throws IOException {
    Path file = Files.createTempFile("fuzz-check", ".qcow2");
    Files.write(file, image);
    return file;
  }
}
