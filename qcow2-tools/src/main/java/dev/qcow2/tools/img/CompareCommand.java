package dev.qcow2.tools.img;

import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.convert.ImageComparator;
import dev.qcow2.tools.cli.ErrorLine;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;

/**
 * {@code qcow2 compare}: qemu-img compare's semantics, messages and exit codes (0 identical, 1
 * different, 2 when an image cannot be opened or read).
 */
final class CompareCommand extends Verb {
  CompareCommand() {
    super(
        "compare",
        "Compare the contents of two images (as qemu-img compare).",
        "FILE1 FILE2",
        2,
        2,
        Opt.value("-f", "FMT", "Format of the first image (default: detect)."),
        Opt.value("-F", "FMT", "Format of the second image (default: detect)."),
        Opt.flag("-q", "Quiet: print nothing, only the exit code tells."),
        Opt.flag("-s", "Strict: the sizes and the block status must match too."),
        Images.SOURCE_CACHE,
        ReportOptions.FORCE_SHARE,
        Secrets.OBJECT,
        Secrets.IMAGE_OPTS);
  }

  final Secrets secrets = new Secrets();

  String format1;
  String format2;
  boolean quiet;
  boolean strict;
  String file1;
  String file2;

  @Override
  void set(String key, String value) {
    switch (key) {
      case "-f" -> format1 = value;
      case "-F" -> format2 = value;
      case "-q" -> quiet = true;
      case "-s" -> strict = true;
      case "-T" -> Images.checkCacheMode(value, true, 2); // compare's errors are 2
      case "--object" -> secrets.object(value);
      case "--image-opts" -> secrets.imageOpts = true;
      default -> {} // -U: images are never locked
    }
  }

  @Override
  void operands(List<String> values) {
    file1 = values.get(0);
    file2 = values.get(1);
  }

  @Override
  int run() {
    try (DiskImage a = open(file1, format1);
        DiskImage b = open(file2, format2)) {
      if (a == null || b == null) {
        return 2;
      }
      if (strict) {
        return strict(a, b, out);
      }
      long at = ImageComparator.firstDifferenceInCommonPart(a, b);
      if (at < 0 && a.size() != b.size()) {
        // Like qemu-img: the warning comes once the common part matched, before the tail is read.
        if (!quiet) {
          out.print("Warning: Image size mismatch!\n");
        }
        at =
            ImageComparator.firstNonZeroSector(
                a.size() > b.size() ? a : b, Math.min(a.size(), b.size()));
      }
      if (at >= 0) {
        if (!quiet) {
          out.print("Content mismatch at offset " + at + "!\n");
        }
        return 1;
      }
      if (!quiet) {
        out.print("Images are identical.\n");
      }
      return 0;
    } catch (IOException e) {
      err.print("qcow2: " + ErrorLine.describe(e) + "\n");
      return 2;
    } finally {
      secrets.wipe();
      out.flush();
      err.flush();
    }
  }

  private int strict(DiskImage a, DiskImage b, PrintWriter out) throws IOException {
    String message;
    if (a.size() != b.size()) {
      message = "Strict mode: Image size mismatch!";
    } else {
      ImageComparator.StrictDifference d = ImageComparator.firstStrictDifference(a, b);
      if (d == null) {
        message = null;
      } else if (d.status()) {
        message = "Strict mode: Offset " + d.offset() + " block status mismatch!";
      } else {
        message = "Content mismatch at offset " + d.offset() + "!";
      }
    }
    if (!quiet) {
      out.print((message != null ? message : "Images are identical.") + "\n");
    }
    return message != null ? 1 : 0;
  }

  /** Opens one side; a failure is reported and gives null, so that compare exits 2 as qemu-img. */
  private DiskImage open(String file, String format) {
    try {
      return secrets.open(secrets.spec(file, format), OpenOptions.defaults());
    } catch (IOException | RuntimeException e) {
      err.print("qcow2: " + ErrorLine.describe(e) + "\n");
      return null;
    }
  }
}
