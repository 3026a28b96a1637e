package dev.qcow2.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.qcow2.FuzzAccess;
import dev.qcow2.Qcow2Exception;
import dev.qcow2.Qcow2Image;
import dev.qcow2.fuzz.SeedImage.Kind;
import java.io.IOException;
import java.nio.file.NoSuchFileException;

/**
 * The bitmap directory: a seed with three persistent bitmaps ({@code qemu-img bitmap --add}) whose
 * autoclear bit, bitmaps extension (count, directory size and offset), directory entries (table
 * offset and size, flags, type, granularity, name and extra data lengths) and bitmap tables are
 * mutated; then the bitmaps listed and their tables walked.
 */
class BitmapDirectoryFuzzTest {

  @FuzzTest(maxDuration = "30s")
  void openSeedWithMutatedBitmapDirectory(FuzzedDataProvider data) throws IOException {
    if (data.remainingBytes() == 0) {
      for (SeedImage seed : Seeds.named("bitmaps")) {
        try (Qcow2Image image = Images.open(seed.bytes(), Images.READ)) {
          assertEquals(3, image.bitmaps().size(), seed.name());
          FuzzAccess.walkReferences(image);
        }
      }
      return;
    }
    SeedImage seed = Mutator.pick(data, Seeds.named("bitmaps"));
    byte[] bytes =
        Mutator.mutate(data, seed, Kind.BITMAP_EXTENSION, Kind.BITMAP_DIRECTORY, Kind.BITMAP_TABLE);
    try (Qcow2Image image = Images.open(bytes, Images.READ)) {
      image.bitmaps();
      image.backingFormat();
      FuzzAccess.walkReferences(image);
    } catch (Qcow2Exception | NoSuchFileException expected) {
      // A typed refusal is the right outcome for a bad directory.
    }
  }
}
