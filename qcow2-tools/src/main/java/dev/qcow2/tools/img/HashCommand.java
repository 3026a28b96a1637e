package dev.qcow2.tools.img;

import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.hash.ContentHash;
import dev.qcow2.hash.ContentHasher;
import dev.qcow2.hash.HashAlgorithm;
import dev.qcow2.tools.cli.ProgressBar;
import dev.qcow2.tools.cli.UsageException;
import java.io.IOException;
import java.util.List;

/**
 * {@code qcow2 hash}: the digest of each image's virtual disk, printed as sha256sum prints a file's
 * ("digest name"), so that it can be compared with {@code qemu-img convert -O raw | sha256sum}.
 */
final class HashCommand extends Verb {
  HashCommand() {
    super(
        "hash",
        "Print the digest of the virtual disk content.",
        "FILE...",
        1,
        Integer.MAX_VALUE,
        Opt.value("-a,--algorithm", "ALG", "sha1, sha256 (the default) or tree-sha256."),
        Opt.value("-f", "FMT", "Image format: qcow2 or raw (default: detect)."),
        Opt.value("-m", "N", "Reader threads (default: available processors)."),
        Opt.flag("-p", "Show progress on a terminal."),
        ReportOptions.FORCE_SHARE);
  }

  String algorithm = "sha256";
  String format;
  Integer threads;
  boolean progress;
  List<String> files;

  @Override
  void set(String key, String value) {
    switch (key) {
      case "-a" -> algorithm = value;
      case "-f" -> format = value;
      case "-m" -> threads = Images.integer("-m", value);
      case "-p" -> progress = true;
      default -> {} // -U: images are never locked
    }
  }

  @Override
  void operands(List<String> values) {
    files = values;
  }

  @Override
  int run() throws IOException {
    HashAlgorithm alg;
    try {
      alg = HashAlgorithm.of(algorithm);
    } catch (IllegalArgumentException e) {
      throw new UsageException(e.getMessage());
    }
    int n = threads != null ? threads : Runtime.getRuntime().availableProcessors();
    if (n < 1) {
      throw new UsageException("-m needs at least 1 thread: " + n);
    }
    for (String file : files) {
      try (DiskImage image = Images.open(file, format, OpenOptions.defaults())) {
        ProgressBar bar =
            progress && System.console() != null ? new ProgressBar(terminal, image.size()) : null;
        ContentHash hash = ContentHasher.hash(image, alg, n, bar);
        if (bar != null) {
          bar.finish();
        }
        out.print(hash.hex() + "  " + file + "\n");
        out.flush();
      }
    }
    return 0;
  }
}
