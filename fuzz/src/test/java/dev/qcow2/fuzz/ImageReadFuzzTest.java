package dev.qcow2.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.qcow2.FuzzAccess;
import dev.qcow2.Qcow2Exception;
import dev.qcow2.Qcow2Image;
import dev.qcow2.fuzz.SeedImage.Kind;
import java.io.IOException;
import java.nio.file.NoSuchFileException;

/**
 * Reading: arbitrary bytes opened as an image held in memory, and seed images whose L1, L2 and
 * refcount tables and compressed data are mutated; then every run of the disk mapped and read, and
 * the L1/L2/refcount reference walk that check and repair start from.
 *
 * <p>A plain {@code mvn verify} replays the inputs under {@code src/test/resources} (and, for the
 * structured target, reads every seed unchanged, which must succeed); set {@code JAZZER_FUZZ=1} to
 * fuzz.
 */
class ImageReadFuzzTest {

  @FuzzTest(maxDuration = "30s")
  void openAndReadArbitraryBytes(byte[] input) throws IOException {
    try (Qcow2Image image = Images.open(input, Images.READ)) {
      Images.readAll(image);
    } catch (Qcow2Exception | NoSuchFileException expected) {
      // A typed refusal is the right outcome for a bad image.
    }
  }

  @FuzzTest(maxDuration = "30s")
  void readSeedWithMutatedTables(FuzzedDataProvider data) throws IOException {
    if (data.remainingBytes() == 0) {
      for (SeedImage seed : Seeds.all()) {
        try (Qcow2Image image = Images.open(seed.bytes(), Images.READ)) {
          Images.readAll(image);
          FuzzAccess.walkReferences(image);
        }
      }
      return;
    }
    SeedImage seed = Mutator.pick(data, Seeds.all());
    byte[] bytes =
        Mutator.mutate(
            data,
            seed,
            Kind.L1,
            Kind.L2,
            Kind.REFCOUNT_TABLE,
            Kind.REFCOUNT_BLOCK,
            Kind.COMPRESSED_DATA);
    try (Qcow2Image image = Images.open(bytes, Images.READ)) {
      Images.readAll(image);
      FuzzAccess.walkReferences(image);
    } catch (Qcow2Exception | NoSuchFileException expected) {
      // A typed refusal is the right outcome for a bad image.
    }
  }
}
