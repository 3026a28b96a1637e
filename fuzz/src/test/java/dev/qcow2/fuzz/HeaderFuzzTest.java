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
 * The header and its extensions: arbitrary bytes given to the header parser, and seed images whose
 * header fields, extension types, lengths and data, and backing file name are mutated, then opened.
 */
class HeaderFuzzTest {

  @FuzzTest(maxDuration = "30s")
  void parseArbitraryHeader(byte[] input) {
    try {
      FuzzAccess.parseHeader("fuzz.qcow2", input, Images.READ);
    } catch (Qcow2Exception expected) {
      // A typed refusal is the right outcome for a bad header.
    }
  }

  @FuzzTest(maxDuration = "30s")
  void openSeedWithMutatedHeader(FuzzedDataProvider data) throws IOException {
    if (data.remainingBytes() == 0) {
      for (SeedImage seed : Seeds.all()) {
        FuzzAccess.parseHeader(seed.name(), seed.bytes(), Images.READ);
      }
      return;
    }
    SeedImage seed = Mutator.pick(data, Seeds.all());
    byte[] image = Mutator.mutate(data, seed, Kind.HEADER, Kind.HEADER_EXTENSION);
    try (Qcow2Image img = Images.open(image, Images.READ)) {
      Images.readAll(img);
    } catch (Qcow2Exception | NoSuchFileException expected) {
      // Refused, naming the structure; a named external data file is not there.
    }
  }
}
