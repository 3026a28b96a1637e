package dev.qcow2.tools.img;

import dev.qcow2.DiskImage;
import dev.qcow2.convert.ImageCommitter;
import dev.qcow2.tools.ProgressBar;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 commit [-b BASE] [-d] FILE}: the overlay's data written into its backing file (or a
 * deeper base), then the overlay emptied unless {@code -d} (which {@code -b} implies), and
 * "Image committed." printed as qemu-img prints it.
 */
@Command(name = "commit", description = "Write an overlay's data into its backing file.")
final class CommitCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  private final PrintStream progressStream;

  CommitCommand(PrintStream progressStream) {
    this.progressStream = progressStream;
  }

  @Option(names = "-b", paramLabel = "BASE", description = "The image of the backing chain to commit into.")
  String base;

  @Option(names = "-d", description = "Do not empty the overlay afterwards.")
  boolean keep;

  @Option(names = "-f", paramLabel = "FMT", description = "The image's format: qcow2.")
  String format;

  @Option(names = "-p", description = "Show progress on a terminal.")
  boolean progress;

  @Option(names = "-q", description = "Quiet.")
  boolean quiet;

  @Parameters(index = "0", paramLabel = "FILE")
  String file;

  @Override
  public Integer call() throws IOException {
    if (format != null && !format.equals("qcow2")) {
      throw new ParameterException(spec.commandLine(), "only qcow2 images have a backing file to commit into");
    }
    Path path = Path.of(file);
    long size;
    try (DiskImage image = Images.open(file, "qcow2", dev.qcow2.OpenOptions.builder().openBacking(false).build())) {
      size = image.size();
    }
    ProgressBar bar = progress && !quiet && System.console() != null ? new ProgressBar(progressStream, size) : null;
    Path basePath = base == null ? null : resolveBase(path, base);
    ImageCommitter.commit(path, basePath, keep || base != null, bar);
    if (bar != null) {
      bar.finish();
    }
    if (!quiet) {
      spec.commandLine().getOut().print("Image committed.\n");
      spec.commandLine().getOut().flush();
    }
    return 0;
  }

  /** qemu-img takes -b as a path from the working directory, or as a name in the chain. */
  private static Path resolveBase(Path top, String base) {
    Path p = Path.of(base);
    if (java.nio.file.Files.exists(p)) {
      return p;
    }
    Path dir = top.toAbsolutePath().getParent();
    return dir == null ? p : dir.resolve(base);
  }
}
