package dev.qcow2.tools.img;

import dev.qcow2.DiskImage;
import dev.qcow2.convert.ImageRebaser;
import dev.qcow2.convert.RebaseMode;
import dev.qcow2.tools.cli.ProgressBar;
import dev.qcow2.tools.cli.UsageException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code qcow2 rebase -b NEW [-F FMT] [-u] [-c] FILE}: another backing file for a qcow2 image; safe
 * (the disk keeps its content) unless {@code -u}; {@code -b ""} flattens the image. {@code -c}
 * (qemu 8.2) compresses the clusters a safe rebase copies; with {@code -u}, which copies nothing,
 * it does nothing, as in qemu-img, which accepts the pair.
 */
final class RebaseCommand extends Verb {
  RebaseCommand() {
    super(
        "rebase",
        "Change the backing file of a qcow2 image.",
        "FILE",
        1,
        1,
        Opt.value("-b", "BACKING", "The new backing file (\"\" for none)."),
        Opt.value("-F", "FMT", "The new backing file's format (default: detect)."),
        Opt.value("-f", "FMT", "The image's format: qcow2."),
        Opt.flag("-u", "Unsafe: rewrite the name only, copying nothing."),
        Opt.flag("-c,--compress", "Compress the clusters copied into the image."),
        Opt.flag("-p", "Show progress on a terminal."),
        Opt.flag("-q", "Quiet."),
        Images.CACHE,
        Images.SOURCE_CACHE,
        ReportOptions.FORCE_SHARE);
  }

  /** qemu-img rebase's words for -c on an image of a format that cannot hold compressed data. */
  private static final String NO_COMPRESSION = "Compression not supported for this file format";

  String backing;
  String backingFormat;
  String format;
  boolean unsafe;
  boolean compress;
  boolean progress;
  boolean quiet;
  String file;

  @Override
  void set(String key, String value) {
    switch (key) {
      case "-b" -> backing = value;
      case "-F" -> backingFormat = value;
      case "-f" -> format = value;
      case "-u" -> unsafe = true;
      case "-c" -> compress = true;
      case "-p" -> progress = true;
      case "-q" -> quiet = true;
      case "-t" -> Images.checkCacheMode(value, false, 1);
      case "-T" -> Images.checkCacheMode(value, true, 1);
      default -> {} // -U: images are never locked
    }
  }

  @Override
  void operands(List<String> values) {
    file = values.get(0);
  }

  @Override
  int run() throws IOException {
    if (backing == null) {
      throw new UsageException("Must specify backing file (-b) or use unsafe mode (-u)");
    }
    if (compress && format != null && !format.equals("qcow2")) {
      throw new UsageException(NO_COMPRESSION);
    }
    if (format != null && !format.equals("qcow2")) {
      throw new UsageException("only qcow2 images have a backing file to change");
    }
    if (backingFormat != null && !backingFormat.equals("qcow2") && !backingFormat.equals("raw")) {
      throw new UsageException("Unknown driver '" + backingFormat + "'");
    }
    Path path = Path.of(file);
    if (!Files.exists(path)) {
      throw new java.nio.file.NoSuchFileException(file);
    }
    if (compress && !DiskImage.isQcow2(path)) {
      throw new UsageException(NO_COMPRESSION);
    }
    if (!DiskImage.isQcow2(path)) {
      throw new IllegalArgumentException("'" + file + "' is not a qcow2 image");
    }
    long size;
    try (DiskImage image =
        DiskImage.open(path, dev.qcow2.OpenOptions.builder().openBacking(false).build())) {
      size = image.size();
    }
    ProgressBar bar =
        progress && !quiet && System.console() != null ? new ProgressBar(terminal, size) : null;
    RebaseMode mode =
        unsafe ? RebaseMode.UNSAFE : compress ? RebaseMode.SAFE_COMPRESSED : RebaseMode.SAFE;
    ImageRebaser.rebase(path, backing, backingFormat, mode, bar);
    if (bar != null) {
      bar.finish();
    }
    return 0;
  }
}
