package dev.qcow2.convert;

import dev.qcow2.DiskImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.LongConsumer;

/** Converts images. For now: any image to a sparse raw file. */
public final class ImageConverter {
  private ImageConverter() {}

  /**
   * Writes the virtual disk of {@code source} to {@code target} as a sparse raw file: holes
   * wherever the disk reads zeros. Reading, decompression and writing run on {@code threads}
   * threads.
   *
   * @param progress called with the number of guest bytes done so far (may be called from any
   *     thread, never concurrently); may be null
   */
  public static void toRaw(DiskImage source, Path target, int threads, LongConsumer progress)
      throws IOException {
    throw new UnsupportedOperationException("not written yet");
  }
}
