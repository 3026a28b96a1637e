package dev.qcow2.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Exception;
import dev.qcow2.Qcow2Image;
import dev.qcow2.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * Arbitrary image bytes held in memory, opened for writing, then a few writes, zero writes,
 * discards and compressed writes chosen by the fuzzer, and a close. A bad image may be refused or
 * fail later with one of the library's typed exceptions; anything else is a finding. Writing to a
 * valid image must not fail at all.
 */
class ImageWriteFuzzTest {
  private static final OpenOptions OPTIONS =
      OpenOptions.builder().writable(true).openBacking(false).l2CacheSize(1 << 20)
          .maxL1Entries(1 << 16).maxSnapshots(1024)
          // An image may name any file as its external data file; fuzzing must never open one.
          .allowBackingIn(Path.of("/nonexistent/qcow2-fuzz")).build();

  @FuzzTest(maxDuration = "30s")
  void writeIntoArbitraryImage(FuzzedDataProvider data) throws IOException {
    int ops = data.consumeInt(1, 8);
    long[][] plan = new long[ops][];
    for (int i = 0; i < ops; i++) {
      plan[i] = new long[] {data.consumeInt(0, 3), data.consumeLong(0, 64L << 20), data.consumeInt(1, 200_000)};
    }
    byte[] image = data.consumeRemainingAsBytes();
    Storage storage = Storage.inMemory("fuzz.qcow2", image);
    try (Qcow2Image img = Qcow2Image.open(Path.of("fuzz.qcow2"), storage, OPTIONS)) {
      for (long[] op : plan) {
        long size = img.size();
        if (size == 0) {
          break;
        }
        long offset = op[1] % size;
        int length = (int) Math.min(op[2], size - offset);
        switch ((int) op[0]) {
          case 0 -> img.write(ByteBuffer.allocate(length), offset);
          case 1 -> img.writeZeroes(offset, length);
          case 2 -> img.discard(offset, length);
          default -> {
            long cluster = offset - offset % img.clusterSize();
            int n = (int) Math.min(img.clusterSize(), size - cluster);
            img.writeCompressed(ByteBuffer.allocate(n), cluster);
          }
        }
      }
    } catch (Qcow2Exception expected) {
      // A typed refusal is the right outcome for a bad image.
    }
  }
}
