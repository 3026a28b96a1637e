package dev.qcow2.tools.img;

import dev.qcow2.CheckReport;
import dev.qcow2.DiskImage;
import dev.qcow2.ImageChecker;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.RawImage;
import dev.qcow2.remote.RangeSources;
import dev.qcow2.remote.RemoteImages;
import dev.qcow2.remote.RemoteOptions;
import dev.qcow2.remote.S3Location;
import dev.qcow2.tools.cli.SizeParser;
import dev.qcow2.tools.cli.UsageException;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;

/** Opening images for the verbs, with qemu-img's {@code -f} semantics. */
final class Images {
  private Images() {}

  /**
   * Opens {@code file} read-only: a local file, or an image on a web server or in an S3 bucket when
   * {@code file} is an http, https or s3 URL (read lazily, never downloaded). Without a format the
   * library detects it; {@code -f raw} reads even a qcow2 file as raw bytes, as qemu-img does.
   */
  static DiskImage open(String file, String format, OpenOptions options) throws IOException {
    if (isRemote(file)) {
      if (format != null && !format.equals("qcow2") && !format.equals("raw")) {
        throw unknownDriver(format);
      }
      return RemoteImages.open(url(file), format, options, RemoteOptions.defaults());
    }
    Path path = Path.of(file);
    if (format == null) {
      return DiskImage.open(path, options);
    }
    return switch (format) {
      case "qcow2" -> Qcow2Image.open(path, options);
      case "raw" -> {
        // As the library's detecting open: a raw file has no snapshots to read.
        if (options.readsSnapshot()) {
          throw new UnsupportedOperationException(
              file + ": a raw image has no internal snapshots to read");
        }
        yield RawImage.open(path, false);
      }
      default -> throw unknownDriver(format);
    };
  }

  private static IllegalArgumentException unknownDriver(String format) {
    return new IllegalArgumentException(
        "Unknown driver '" + format + "' (only qcow2 and raw are supported)");
  }

  /**
   * Whether {@code file} names a remote image (an http, https or s3 URL) rather than a local file.
   */
  static boolean isRemote(String file) {
    return RangeSources.isRemote(file);
  }

  private static URI url(String file) throws IOException {
    if (S3Location.isS3(file)) {
      return RangeSources.s3Uri(file);
    }
    try {
      return new URI(file);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException(
          file + ": not a valid URL (" + e.getReason() + " at index " + e.getIndex() + ")");
    }
  }

  /** qemu-img check of a remote image: read-only, so nothing can be repaired. */
  static CheckReport checkRemote(String file, ImageChecker.Repair repair) throws IOException {
    if (repair != ImageChecker.Repair.NONE) {
      throw new IllegalArgumentException(
          file + ": a remote image is read-only and cannot be repaired");
    }
    try (DiskImage image = open(file, "qcow2", OpenOptions.builder().openBacking(false).build())) {
      return ImageChecker.check((Qcow2Image) image);
    }
  }

  static String checkOutput(String output) {
    if (!output.equals("human") && !output.equals("json")) {
      throw new UsageException("--output must be used with human or json as argument.");
    }
    return output;
  }

  /** The decimal integer {@code value} of {@code option}, or a usage error. */
  static int integer(String option, String value) {
    try {
      return Integer.parseInt(value);
    } catch (NumberFormatException e) {
      throw new UsageException(
          "Invalid value for option '" + option + "': '" + value + "' is not an int");
    }
  }

  /** The decimal integer {@code value}, or {@code fallback} if it is not one. */
  static int integerOr(String value, int fallback) {
    try {
      return Integer.parseInt(value);
    } catch (NumberFormatException e) {
      return fallback;
    }
  }

  /** The size {@code value} of {@code option} (qemu's suffixes), or a usage error. */
  static long size(String option, String value) {
    try {
      return SizeParser.parseSigned(value);
    } catch (SizeParser.InvalidSizeException e) {
      throw new UsageException(
          "Invalid value for option '"
              + option
              + "': '"
              + value
              + "' is not a valid size (a whole number of bytes; k, M, G, T, P, E suffixes)");
    }
  }

  /** qemu-img create's and measure's refusal of an image size, in their words. */
  static UsageException invalidImageSize(SizeParser.InvalidSizeException e) {
    return new UsageException(
        e.tooLarge()
            ? "Invalid image size specified. Must be between 0 and 9223372036854775807."
            : "Invalid image size specified. You may use k, M, G, T, P or E suffixes for\n"
                + "qcow2: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
  }

  /** qemu-img's -t: the target's cache mode. */
  static final Verb.Opt CACHE =
      Verb.Opt.value(
          "-t",
          "CACHE",
          "Cache mode of the image written (none, writeback, unsafe, directsync, writethrough): "
              + "checked and accepted for qemu-img compatibility; I/O always goes through the page cache.");

  /** qemu-img's -T: the source's cache mode. */
  static final Verb.Opt SOURCE_CACHE =
      Verb.Opt.value(
          "-T", "SRC_CACHE", "Cache mode of the images read: checked and accepted as -t is.");

  /**
   * Checks a -t or -T value as qemu's bdrv_parse_cache_mode does. The mode itself changes nothing
   * here: the JDK reads and writes through the page cache (O_DIRECT needs aligned buffers and
   * offsets), and the writers flush where qemu's safe modes would.
   */
  static void checkCacheMode(String mode, boolean source, int exitCode) {
    switch (mode) {
      case "none", "off", "writeback", "unsafe", "directsync", "writethrough" -> {}
      default ->
          throw new UsageException(
              "Invalid " + (source ? "source " : "") + "cache option: " + mode, exitCode);
    }
  }
}
