package dev.qcow2.fuzz;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.BlockStatus;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * What the targets share: the open options (limits low enough that a fuzzing process never needs a
 * large heap, and a folder policy under which no backing or external data file is ever opened), and
 * a bounded read of everything an opened image offers.
 *
 * <p>The guarantee every target asserts: a malformed image ends in a {@link
 * dev.qcow2.Qcow2Exception} (or, for a named data file that is missing, a {@link
 * java.nio.file.NoSuchFileException}); any other exception or error escapes the target and Jazzer
 * reports it as a finding.
 */
final class Images {
  static final Path NAME = Path.of("fuzz.qcow2");

  /** Read-only; backing files not followed; a data file named by the image is refused by policy. */
  static final OpenOptions READ =
      OpenOptions.builder()
          .openBacking(false)
          .l2CacheSize(1 << 20)
          .maxL1Entries(1 << 16)
          .maxSnapshots(1024)
          .allowBackingIn(Path.of("/nonexistent/qcow2-fuzz"))
          .build();

  static final OpenOptions WRITE = READ.toBuilder().writable(true).build();

  private Images() {}

  static Qcow2Image open(byte[] file, OpenOptions options) throws IOException {
    return Qcow2Image.open(NAME, Storage.inMemory(NAME.toString(), file), options);
  }

  /**
   * Everything a reader sees: the backing file name and format, snapshots, bitmaps, then every run
   * of the disk mapped and up to 64 KiB of it read, over the first 64 MiB of the disk. ({@code
   * info()} is left out: it asks the host file system about the file, which is not there.)
   */
  static void readAll(Qcow2Image image) throws IOException {
    image.backingFileName();
    image.backingFormat();
    image.snapshots();
    image.bitmaps();
    long size = Math.min(image.size(), 64L << 20);
    ByteBuffer buffer = ByteBuffer.allocate(64 << 10);
    long at = 0;
    int runs = 0;
    while (at < size && runs++ < 10_000) {
      BlockStatus status = image.blockStatus(at, size - at);
      assertTrue(status.length() > 0 && status.length() <= size - at, "a run lies inside the disk");
      buffer.clear().limit((int) Math.min(buffer.capacity(), status.length()));
      int n = image.read(buffer, at);
      assertTrue(n == buffer.limit(), "a read inside the disk reads all it was asked");
      at += status.length();
    }
  }
}
