package dev.qcow2.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.qcow2.Bitmap;
import dev.qcow2.FuzzAccess;
import dev.qcow2.Qcow2Exception;
import dev.qcow2.Qcow2Image;
import dev.qcow2.fuzz.SeedImage.Kind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;

/**
 * The bitmap directory: a seed with three persistent bitmaps ({@code qemu-img bitmap --add}) whose
 * autoclear bit, bitmaps extension (count, directory size and offset), directory entries (table
 * offset and size, flags, type, granularity, name and extra data lengths) and bitmap tables are
 * mutated; then the bitmaps listed, their tables walked and their dirty extents read (a bounded
 * range, as a reader that pages through a bitmap would), and the image written through a writable
 * open, which flags the bitmaps in use, marks them and stores them back at close.
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
      readExtents(image);
    } catch (Qcow2Exception | NoSuchFileException expected) {
      // A typed refusal is the right outcome for a bad directory.
    }
    try (Qcow2Image image = Images.open(bytes, Images.WRITE)) {
      image.write(ByteBuffer.wrap(new byte[4096]), Math.max(0, image.size() / 2 - 4096));
      readExtents(image);
    } catch (Qcow2Exception | NoSuchFileException | IllegalArgumentException expected) {
      // Refused, or too small a disk for the write.
    }
  }

  private static void readExtents(Qcow2Image image) throws IOException {
    for (Bitmap b : image.bitmaps()) {
      try {
        image.dirtyBitmaps().dirtyExtents(b.name(), 0, Math.min(image.size(), 1L << 30));
      } catch (IllegalStateException inUseSinceBeforeTheOpen) {
        // qemu refuses to read those too
      }
    }
  }
}
