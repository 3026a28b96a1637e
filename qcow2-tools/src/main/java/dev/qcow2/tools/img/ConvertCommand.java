package dev.qcow2.tools.img;

import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.convert.ImageConverter;
import dev.qcow2.tools.ProgressBar;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 convert -O raw|qcow2}: the virtual disk as a sparse raw file, or as a new qcow2
 * image made with {@code -o} options, reading and decompressing on several threads.
 */
@Command(name = "convert", description = "Convert an image to raw or qcow2.")
final class ConvertCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  /** Where -p draws; a terminal-only side channel, so it is not the picocli error writer. */
  private final PrintStream progressStream;

  ConvertCommand(PrintStream progressStream) {
    this.progressStream = progressStream;
  }

  @Option(names = "-f", paramLabel = "FMT", description = "Source format: qcow2 or raw (default: detect).")
  String format;

  @Option(names = "-O", paramLabel = "FMT", defaultValue = "raw",
      description = "Output format: raw (the default, as qemu-img's) or qcow2.")
  String outputFormat;

  @Option(names = "-o", paramLabel = "OPTIONS",
      description = "Options for the new qcow2 image, as qemu-img create's -o.")
  List<String> createOptions = new ArrayList<>();

  @Option(names = "-p", description = "Show progress on a terminal.")
  boolean progress;

  @Option(names = "-m", paramLabel = "N", description = "Threads (default: available processors).")
  Integer threads;

  @Option(names = {"-U", "--force-share"},
      description = "Accepted for qemu-img compatibility; images are never locked.")
  boolean forceShare;

  @Parameters(index = "0", paramLabel = "SRC")
  String source;

  @Parameters(index = "1", paramLabel = "DST")
  String target;

  @Override
  public Integer call() throws IOException {
    if (!"raw".equals(outputFormat) && !"qcow2".equals(outputFormat)) {
      throw new ParameterException(spec.commandLine(), "only -O raw and -O qcow2 are supported so far");
    }
    if ("raw".equals(outputFormat) && !createOptions.isEmpty()) {
      throw new ParameterException(spec.commandLine(), "-o is only supported with -O qcow2");
    }
    int n = threads != null ? threads : Runtime.getRuntime().availableProcessors();
    if (n < 1) {
      throw new ParameterException(spec.commandLine(), "-m needs at least 1 thread: " + n);
    }
    try (DiskImage image = Images.open(source, format, OpenOptions.defaults())) {
      // qemu-img draws progress only for a person watching; keep pipes and logs clean.
      ProgressBar bar = progress && System.console() != null
          ? new ProgressBar(progressStream, image.size()) : null;
      if (bar != null) {
        bar.accept(0);
      }
      if ("qcow2".equals(outputFormat)) {
        CreateOptionList opts = CreateOptionList.of("qcow2");
        for (String list : createOptions) {
          opts.parse(list);
        }
        long size = (image.size() + 511) & ~511L;
        CreateOptions options = CreateCommand.qcow2Options(target, opts, size);
        if (options.backingFile() != null) {
          throw new ParameterException(spec.commandLine(), "backing files in convert (-B) are not supported yet");
        }
        ImageConverter.toQcow2(image, Path.of(target), options, n, bar);
      } else {
        ImageConverter.toRaw(image, Path.of(target), n, bar);
      }
      if (bar != null) {
        bar.finish();
      }
    }
    return 0;
  }
}
