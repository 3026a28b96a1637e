package dev.qcow2.tools.img;

import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.tools.cli.SizeParser;
import dev.qcow2.tools.cli.UsageException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code qcow2 resize}: qemu-img's resize for qcow2 (growing) and raw (growing, and shrinking with
 * --shrink). Prints "Image resized." as qemu-img does.
 */
final class ResizeCommand extends Verb {
  ResizeCommand() {
    super(
        "resize",
        "Change the virtual size of an image (as qemu-img resize).",
        "FILE [+|-]SIZE",
        2,
        2,
        Opt.value("-f", "FMT", "Image format: qcow2 or raw (default: detect)."),
        Opt.flag("--shrink", "Allow the image to get smaller."),
        Opt.flag("-q", "Quiet: print nothing on success."),
        Secrets.OBJECT,
        Secrets.IMAGE_OPTS);
  }

  /** "qcow2 resize FILE -3M": a relative shrink, not options. */
  @Override
  boolean negativeNumbersAreOperands() {
    return true;
  }

  /** An encrypted image is resized only with its passphrase, as qemu-img opens it only so. */
  final Secrets secrets = new Secrets();

  String format;
  boolean shrink;
  boolean quiet;
  String file;
  String sizeArgument;

  @Override
  void set(String key, String value) {
    switch (key) {
      case "-f" -> format = value;
      case "--shrink" -> shrink = true;
      case "--object" -> secrets.object(value);
      case "--image-opts" -> secrets.imageOpts = true;
      default -> quiet = true; // -q
    }
  }

  @Override
  void operands(List<String> values) {
    file = values.get(0);
    sizeArgument = values.get(1);
  }

  @Override
  int run() throws IOException {
    try {
      return resize(secrets.spec(file, format));
    } finally {
      secrets.wipe();
    }
  }

  private int resize(Secrets.ImageSpec spec) throws IOException {
    file = spec.file();
    format = spec.format();
    Path path = Path.of(file);
    boolean qcow2 = format != null ? format.equals("qcow2") : DiskImage.isQcow2(path);
    if (format != null && !format.equals("qcow2") && !format.equals("raw")) {
      throw new UsageException(
          "Unknown driver '" + format + "' (only qcow2 and raw are supported)");
    }
    if (qcow2) {
      try (Qcow2Image img = openQcow2(spec)) {
        long size = target(img.size());
        // qemu-img refuses a shrink before the driver checks the size, so a refusal comes first.
        if (size < img.size() && !shrink) {
          return refuseShrink(err);
        }
        img.resize(size); // the library's rules, and their messages, for the size itself
      }
    } else {
      try (RandomAccessFile raw = new RandomAccessFile(path.toFile(), "rw")) {
        long size = target(raw.length());
        if (size < raw.length() && !shrink) {
          return refuseShrink(err);
        }
        raw.setLength(size);
      }
    }
    if (!quiet) {
      out.print("Image resized.\n");
    }
    return 0;
  }

  /**
   * The image, writable and unlocked with its secret; the passphrases are wiped once it is open.
   */
  private Qcow2Image openQcow2(Secrets.ImageSpec spec) throws IOException {
    DiskImage image;
    try {
      image =
          secrets.open(
              new Secrets.ImageSpec(file, "qcow2", spec.keySecret()),
              OpenOptions.builder().writable(true).build());
    } finally {
      secrets.wipe();
    }
    try {
      Secrets.requireKey(image, spec);
    } catch (RuntimeException e) {
      image.close();
      throw e;
    }
    return (Qcow2Image) image;
  }

  /** qemu-img's refusal: the error, then its warning about what shrinking would do. */
  private static int refuseShrink(PrintWriter err) {
    err.print("qcow2: Use the --shrink option to perform a shrink operation.\n");
    err.print(
        "qcow2: warning: Shrinking an image will delete all data beyond the shrunken image's end. "
            + "Before performing such an operation, make sure there is no important data there.\n");
    err.flush();
    return 1;
  }

  /**
   * The new size from "SIZE", "+SIZE" or "-SIZE" (raw files take any size, qcow2 whole sectors).
   */
  private long target(long current) {
    String s = sizeArgument;
    long size;
    if (s.startsWith("+")) {
      size = current + bytes(s.substring(1));
    } else if (s.startsWith("-")) {
      size = current - bytes(s.substring(1));
    } else {
      size = bytes(s);
    }
    if (size <= 0) {
      throw new UsageException("New image size must be positive");
    }
    return size;
  }

  /** A size operand, refused in qemu-img resize's words. */
  private static long bytes(String text) {
    try {
      return SizeParser.parseSigned(text);
    } catch (SizeParser.InvalidSizeException e) {
      throw new UsageException(
          e.tooLarge()
              ? "Value '" + text + "' is out of range for parameter 'size'"
              : "Parameter 'size' expects a non-negative number below 2^64\n"
                  + "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
                  + "and exabytes, respectively.");
    }
  }
}
