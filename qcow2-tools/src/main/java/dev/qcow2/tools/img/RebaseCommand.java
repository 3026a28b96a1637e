package dev.qcow2.tools.img;

import dev.qcow2.DiskImage;
import dev.qcow2.convert.ImageRebaser;
import dev.qcow2.convert.RebaseMode;
import dev.qcow2.tools.ProgressBar;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 rebase -b NEW [-F FMT] [-u] FILE}: another backing file for a qcow2 image; safe (the
 * disk keeps its content) unless {@code -u}; {@code -b ""} flattens the image.
 */
@Command(name = "rebase", description = "Change the backing file of a qcow2 image.")
final class RebaseCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  private final PrintStream progressStream;

  RebaseCommand(PrintStream progressStream) {
    this.progressStream = progressStream;
  }

  @Option(names = "-b", paramLabel = "BACKING", description = "The new backing file (\"\" for none).")
  String backing;

  @Option(names = "-F", paramLabel = "FMT", description = "The new backing file's format (default: detect).")
  String backingFormat;

  @Option(names = "-f", paramLabel = "FMT", description = "The image's format: qcow2.")
  String format;

  @Option(names = "-u", description = "Unsafe: rewrite the name only, copying nothing.")
  boolean unsafe;

  @Option(names = "-p", description = "Show progress on a terminal.")
  boolean progress;

  @Option(names = "-q", description = "Quiet.")
  boolean quiet;

  @Option(names = {"-U", "--force-share"}, description = "Accepted for qemu-img compatibility.")
  boolean forceShare;

  @Parameters(index = "0", paramLabel = "FILE")
  String file;

  @Override
  public Integer call() throws IOException {
    if (backing == null) {
      throw new ParameterException(spec.commandLine(), "Must specify backing file (-b) or use unsafe mode (-u)");
    }
    if (format != null && !format.equals("qcow2")) {
      throw new ParameterException(spec.commandLine(), "only qcow2 images have a backing file to change");
    }
    if (backingFormat != null && !backingFormat.equals("qcow2") && !backingFormat.equals("raw")) {
      throw new ParameterException(spec.commandLine(), "Unknown driver '" + backingFormat + "'");
    }
    Path path = Path.of(file);
    if (!Files.exists(path)) {
      throw new java.nio.file.NoSuchFileException(file);
    }
    if (!DiskImage.isQcow2(path)) {
      throw new IllegalArgumentException("'" + file + "' is not a qcow2 image");
    }
    long size;
    try (DiskImage image = DiskImage.open(path, dev.qcow2.OpenOptions.builder().openBacking(false).build())) {
      size = image.size();
    }
    ProgressBar bar = progress && !quiet && System.console() != null ? new ProgressBar(progressStream, size) : null;
    ImageRebaser.rebase(path, backing, backingFormat, unsafe ? RebaseMode.UNSAFE : RebaseMode.SAFE, bar);
    if (bar != null) {
      bar.finish();
    }
    return 0;
  }
}
