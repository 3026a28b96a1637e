package dev.qcow2.fuzz;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.qcow2.CheckReport;
import dev.qcow2.ImageChecker;
import dev.qcow2.Qcow2Exception;
import dev.qcow2.Qcow2Image;
import dev.qcow2.fuzz.SeedImage.Kind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Writes after open, on a copy: arbitrary image bytes held in memory, and seed images, mutated or
 * not, in a file; then a few writes, zero writes, discards and compressed writes chosen by the
 * fuzzer, and a close. A bad image may be refused or fail later with one of the library's typed
 * exceptions; anything else is a finding. A refused writable open leaves the file as it was.
 * Writing to an unchanged seed must not fail at all, and must leave no corruption that check sees.
 */
class ImageWriteFuzzTest {

  @FuzzTest(maxDuration = "30s")
  void writeIntoArbitraryImage(FuzzedDataProvider data) throws IOException {
    long[][] plan = plan(data);
    byte[] image = data.consumeRemainingAsBytes();
    try (Qcow2Image img = Images.open(image, Images.WRITE)) {
      apply(img, plan);
    } catch (Qcow2Exception | NoSuchFileException expected) {
      // A typed refusal is the right outcome for a bad image.
    }
  }

  @FuzzTest(maxDuration = "30s")
  void writeIntoSeed(FuzzedDataProvider data) throws IOException {
    if (data.remainingBytes() == 0) {
      for (SeedImage seed : Seeds.all()) {
        writeValid(
            seed,
            new long[][] {{0, 4096, 70_000}, {1, 1 << 20, 8192}, {2, 0, 4096}, {3, 65536, 0}});
      }
      return;
    }
    SeedImage seed = Mutator.pick(data, Seeds.all());
    if (data.consumeBoolean()) {
      writeValid(seed, plan(data));
      return;
    }
    byte[] bytes = Mutator.mutate(data, seed, Kind.values());
    long[][] plan = plan(data);
    Path file = Files.createTempFile("fuzz-write", ".qcow2");
    try {
      Files.write(file, bytes);
      Qcow2Image img;
      try {
        img = Qcow2Image.open(file, Images.WRITE);
      } catch (Qcow2Exception | NoSuchFileException refused) {
        assertArrayEquals(
            bytes,
            Files.readAllBytes(file),
            () -> "a refused writable open changed the image: " + refused);
        return;
      }
      try (img) {
        apply(img, plan);
      } catch (Qcow2Exception expected) {
        // Found corrupt while writing: refused with a typed exception.
      }
    } finally {
      Files.deleteIfExists(file);
    }
  }

  /** Writes into an unchanged seed: nothing may fail, and the result checks clean. */
  private static void writeValid(SeedImage seed, long[][] plan) throws IOException {
    Path file = Files.createTempFile("fuzz-write", ".qcow2");
    try {
      Files.write(file, seed.bytes());
      try (Qcow2Image img = Qcow2Image.open(file, Images.WRITE)) {
        apply(img, plan);
      }
      CheckReport report = ImageChecker.check(file, ImageChecker.Repair.NONE);
      // Leaks are allowed: writing drops bitmaps (their autoclear bit), as qemu expects of a writer
      // that does not maintain them, and their clusters then show as leaked, as in qemu.
      assertEquals(
          0,
          report.corruptions(),
          () -> seed.name() + " corrupt after writes: " + report.messages());
    } finally {
      Files.deleteIfExists(file);
    }
  }

  private static long[][] plan(FuzzedDataProvider data) {
    int ops = data.consumeInt(1, 8);
    long[][] plan = new long[ops][];
    for (int i = 0; i < ops; i++) {
      plan[i] =
          new long[] {
            data.consumeInt(0, 3), data.consumeLong(0, 64L << 20), data.consumeInt(1, 200_000)
          };
    }
    return plan;
  }

  private static void apply(Qcow2Image img, long[][] plan) throws IOException {
    for (long[] op : plan) {
      long size = img.size();
      if (size == 0) {
        break;
      }
      long offset = op[1] % size;
      int length = (int) Math.min(op[2], size - offset);
      switch ((int) op[0]) {
        case 0 -> img.write(ByteBuffer.allocate(length).put(0, (byte) 0x5a), offset);
        case 1 -> img.writeZeroes(offset, length);
        case 2 -> img.discard(offset, length);
        default -> {
          long cluster = offset - offset % img.clusterSize();
          int n = (int) Math.min(img.clusterSize(), size - cluster);
          img.writeCompressed(ByteBuffer.allocate(n), cluster);
        }
      }
    }
  }
}
