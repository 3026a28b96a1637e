package dev.qcow2.tools.img;

import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.RawImage;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.ParameterException;

/** Opening images for the verbs, with qemu-img's {@code -f} semantics. */
final class Images {
  private Images() {}

  /**
   * Opens {@code file} read-only. Without a format the library detects it; {@code -f raw} reads
   * even a qcow2 file as raw bytes, as qemu-img does.
   */
  static DiskImage open(String file, String format, OpenOptions options) throws IOException {
    Path path = Path.of(file);
    if (format == null) {
      return DiskImage.open(path, options);
    }
    return switch (format) {
      case "qcow2" -> Qcow2Image.open(path, options);
      case "raw" -> RawImage.open(path, false);
      default -> throw new IllegalArgumentException(
          "Unknown driver '" + format + "' (only qcow2 and raw are supported)");
    };
  }

  static String checkOutput(picocli.CommandLine cmd, String output) {
    if (!output.equals("human") && !output.equals("json")) {
      throw new ParameterException(cmd, "--output must be used with human or json as argument.");
    }
    return output;
  }
}
