package dev.qcow2;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** Facts about host files that the JDK does not expose. */
final class HostFiles {
  private HostFiles() {}

  /**
   * The bytes a file occupies on disk (st_blocks × 512), which is what qemu-img calls the disk
   * size. The JDK has no call for it, so this asks coreutils' {@code stat}; where that fails it
   * falls back to the file's length.
   */
  static long allocatedBytes(Path path) throws IOException {
    long length = Files.size(path);
    try {
      Process p =
          new ProcessBuilder("stat", "-L", "-c", "%b %B", path.toString())
              .redirectErrorStream(true)
              .start();
      String out;
      try (InputStream in = p.getInputStream()) {
        out = new String(in.readNBytes(256), StandardCharsets.US_ASCII).trim();
      }
      if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
        p.destroyForcibly();
        return length;
      }
      String[] parts = out.split("\\s+");
      return Long.parseLong(parts[0]) * Long.parseLong(parts[1]);
    } catch (IOException | NumberFormatException | ArrayIndexOutOfBoundsException e) {
      return length;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return length;
    }
  }
}
