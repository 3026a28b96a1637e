package dev.qcow2.tools.img;

import dev.qcow2.BackingName;
import dev.qcow2.DiskImage;
import dev.qcow2.convert.ImageCommitter;
import dev.qcow2.tools.cli.ProgressBar;
import dev.qcow2.tools.cli.UsageException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code qcow2 commit [-b BASE] [-d] FILE}: the overlay's data written into its backing file (or a
 * deeper base), then the overlay emptied unless {@code -d} (which {@code -b} implies), and "Image
 * committed." printed as qemu-img prints it.
 */
final class CommitCommand extends Verb {
  CommitCommand() {
    super(
        "commit",
        "Write an overlay's data into its backing file.",
        "FILE",
        1,
        1,
        Opt.value("-b", "BASE", "The image of the backing chain to commit into."),
        Opt.flag("-d", "Do not empty the overlay afterwards."),
        Opt.value("-f", "FMT", "The image's format: qcow2."),
        Opt.flag("-p", "Show progress on a terminal."),
        Opt.flag("-q", "Quiet."),
        Images.CACHE);
  }

  String base;
  boolean keep;
  String format;
  boolean progress;
  boolean quiet;
  String file;

  @Override
  void set(String key, String value) {
    switch (key) {
      case "-b" -> base = value;
      case "-d" -> keep = true;
      case "-f" -> format = value;
      case "-p" -> progress = true;
      case "-t" -> Images.checkCacheMode(value, false, 1);
      default -> quiet = true; // -q
    }
  }

  @Override
  void operands(List<String> values) {
    file = values.get(0);
  }

  @Override
  int run() throws IOException {
    if (format != null && !format.equals("qcow2")) {
      throw new UsageException("only qcow2 images have a backing file to commit into");
    }
    Path path = Path.of(file);
    long size;
    try (DiskImage image =
        Images.open(file, "qcow2", dev.qcow2.OpenOptions.builder().openBacking(false).build())) {
      size = image.size();
    }
    ProgressBar bar =
        progress && !quiet && System.console() != null ? new ProgressBar(terminal, size) : null;
    Path basePath = base == null ? null : resolveBase(path, base);
    ImageCommitter.commit(path, basePath, keep || base != null, bar);
    if (bar != null) {
      bar.finish();
    }
    if (!quiet) {
      out.print("Image committed.\n");
      out.flush();
    }
    return 0;
  }

  /** qemu-img takes -b as a path from the working directory, or as a name in the chain. */
  private static Path resolveBase(Path top, String base) {
    Path p = Path.of(base);
    return java.nio.file.Files.exists(p) ? p : BackingName.resolve(top.toAbsolutePath(), base);
  }
}
