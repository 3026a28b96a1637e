package dev.qcow2.tools.img;

import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.hash.ContentHash;
import dev.qcow2.hash.ContentHasher;
import dev.qcow2.hash.HashAlgorithm;
import dev.qcow2.tools.ProgressBar;
import java.io.IOException;
import java.io.PrintStream;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 hash}: the digest of each image's virtual disk, printed as sha256sum prints a file's
 * ("digest  name"), so that it can be compared with {@code qemu-img convert -O raw | sha256sum}.
 */
@Command(name = "hash", description = "Print the digest of the virtual disk content.")
final class HashCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  private final PrintStream progressStream;

  HashCommand(PrintStream progressStream) {
    this.progressStream = progressStream;
  }

  @Option(names = {"-a", "--algorithm"}, paramLabel = "ALG", defaultValue = "sha256",
      description = "sha1, sha256 (the default) or tree-sha256.")
  String algorithm;

  @Option(names = "-f", paramLabel = "FMT", description = "Image format: qcow2 or raw (default: detect).")
  String format;

  @Option(names = "-m", paramLabel = "N", description = "Reader threads (default: available processors).")
  Integer threads;

  @Option(names = "-p", description = "Show progress on a terminal.")
  boolean progress;

  @Option(names = {"-U", "--force-share"}, description = "Accepted for qemu-img compatibility.")
  boolean forceShare;

  @Parameters(arity = "1..*", paramLabel = "FILE")
  List<String> files;

  @Override
  public Integer call() throws IOException {
    HashAlgorithm alg;
    try {
      alg = HashAlgorithm.of(algorithm);
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
    int n = threads != null ? threads : Runtime.getRuntime().availableProcessors();
    if (n < 1) {
      throw new ParameterException(spec.commandLine(), "-m needs at least 1 thread: " + n);
    }
    for (String file : files) {
      try (DiskImage image = Images.open(file, format, OpenOptions.defaults())) {
        ProgressBar bar = progress && System.console() != null
            ? new ProgressBar(progressStream, image.size()) : null;
        ContentHash hash = ContentHasher.hash(image, alg, n, bar);
        if (bar != null) {
          bar.finish();
        }
        spec.commandLine().getOut().print(hash.hex() + "  " + file + "\n");
        spec.commandLine().getOut().flush();
      }
    }
    return 0;
  }
}
