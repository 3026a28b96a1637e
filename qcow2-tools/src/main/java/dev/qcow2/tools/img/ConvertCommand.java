package dev.qcow2.tools.img;

import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.convert.ConvertOptions;
import dev.qcow2.convert.ImageConverter;
import dev.qcow2.tools.SizeParser;
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
 * {@code qcow2 convert}: the virtual disk as a sparse raw file, or as a qcow2 image made with
 * {@code -o} options, compressed with {@code -c}, or as a delta against a backing file with
 * {@code -B}; reading, comparing and compressing on several threads, one writer.
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

  @Option(names = "-q", description = "Quiet: no progress.")
  boolean quiet;

  @Option(names = "-m", paramLabel = "N", description = "Threads (default: available processors).")
  Integer threads;

  @Option(names = "-c", description = "Compress the clusters (qcow2 targets; -o compression_type=zlib|zstd).")
  boolean compress;

  @Option(names = "-B", paramLabel = "BACKING",
      description = "Give the target this backing file and write only the clusters that differ from it.")
  String backing;

  @Option(names = "-F", paramLabel = "FMT", description = "The backing file's format (default: detect).")
  String backingFormat;

  @Option(names = "-S", paramLabel = "SIZE", description = "Shortest run of zeros left unwritten (default 4k; 0 writes all).")
  String sparse;

  @Option(names = "-W", description = "Write clusters in the order they are ready, not guest order.")
  boolean outOfOrder;

  @Option(names = "-n", description = "Write into the existing target instead of creating it.")
  boolean noCreate;

  @Option(names = "--target-is-zero", description = "With -n: the target reads zeros, so zeros need not be written.")
  boolean targetIsZero;

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
    boolean raw = "raw".equals(outputFormat);
    if (raw && !createOptions.isEmpty()) {
      throw new ParameterException(spec.commandLine(), "-o is only supported with -O qcow2");
    }
    if (raw && compress) {
      throw new ParameterException(spec.commandLine(), "Compression not supported for this file format");
    }
    if (raw && backing != null) {
      throw new ParameterException(spec.commandLine(), "Backing file not supported for file format 'raw'");
    }
    if (targetIsZero && !noCreate) {
      throw new ParameterException(spec.commandLine(), "--target-is-zero requires use of -n flag");
    }
    if (noCreate && backing != null) {
      throw new ParameterException(spec.commandLine(), "-B makes no sense when skipping image creation (-n)");
    }
    int n = threads != null ? threads : Math.min(16, Runtime.getRuntime().availableProcessors());
    if (n < 1 || n > 16) {
      throw new ParameterException(spec.commandLine(), "Invalid number of coroutines. Allowed number of coroutines is between 1 and 16");
    }
    long minSparse = 4096;
    if (sparse != null) {
      minSparse = SizeParser.strtosz(sparse);
      if (minSparse < 0 || minSparse % 512 != 0 || minSparse > 2147483136L) {
        throw new ParameterException(spec.commandLine(), "Invalid buffer size for sparse output specified. "
            + "Valid sizes are multiples of 512 up to 2147483136. Select 0 to disable sparse detection "
            + "(fully allocates output).");
      }
    }
    try (DiskImage image = Images.open(source, format, OpenOptions.defaults())) {
      // qemu-img draws progress only for a person watching; keep pipes and logs clean.
      ProgressBar bar = progress && !quiet && System.console() != null
          ? new ProgressBar(progressStream, image.size()) : null;
      if (bar != null) {
        bar.accept(0);
      }
      ConvertOptions.Builder o = ConvertOptions.builder().targetFormat(outputFormat).threads(n)
          .outOfOrder(outOfOrder).minSparse(minSparse).noCreate(noCreate).targetIsZero(targetIsZero)
          .progress(bar);
      if (!raw) {
        CreateOptionList opts = CreateOptionList.of("qcow2");
        for (String list : createOptions) {
          opts.parse(list);
        }
        long size = (image.size() + 511) & ~511L;
        CreateOptions options = CreateCommand.qcow2Options(target, opts, size);
        String backingFile = backing;
        String backingFmt = backingFormat;
        if (options.backingFile() != null) {
          if (backing != null) {
            throw new ParameterException(spec.commandLine(), "Using -B and -o backing_file at the same time is not supported");
          }
          backingFile = options.backingFile();
          backingFmt = backingFmt != null ? backingFmt : options.backingFormat();
          options = options.toBuilder().backingFile(null, null).build();
        }
        o.createOptions(options).compress(compress);
        if (backingFile != null) {
          o.backing(backingFile, backingFmt);
        }
      }
      ImageConverter.convert(image, Path.of(target), o.build());
      if (bar != null) {
        bar.finish();
      }
    }
    return 0;
  }
}
