package dev.qcow2.tools.img;

import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.NoSuchSnapshotException;
import dev.qcow2.OpenOptions;
import dev.qcow2.convert.ConvertOptions;
import dev.qcow2.convert.ImageConverter;
import dev.qcow2.convert.ImageStream;
import dev.qcow2.remote.S3ImageStream;
import dev.qcow2.remote.S3Location;
import dev.qcow2.tools.cli.ProgressBar;
import dev.qcow2.tools.cli.SizeParser;
import dev.qcow2.tools.cli.UsageException;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code qcow2 convert}: the virtual disk as a sparse raw file, or as a qcow2 image made with
 * {@code -o} options, compressed with {@code -c}, or as a delta against a backing file with {@code
 * -B}; reading, comparing and compressing on several threads, one writer.
 */
final class ConvertCommand extends Verb {
  ConvertCommand() {
    super(
        "convert",
        "Convert an image to raw or qcow2; SRC - writes it to standard output, "
            + "-f raw - DST reads a raw disk from standard input.",
        "SRC DST",
        2,
        2,
        Opt.value("-f", "FMT", "Source format: qcow2 or raw (default: detect)."),
        Opt.value(
            "-l",
            "SNAPSHOT",
            "Read this internal snapshot of SRC instead of its active layer: "
                + "snapshot.id=ID and/or snapshot.name=NAME (comma-separated), or an id or a name."),
        Opt.value("-O", "FMT", "Output format: raw (the default, as qemu-img's) or qcow2."),
        Opt.value(
            "-o",
            "OPTIONS",
            "Options for the new qcow2 image, as qemu-img create's -o; may be repeated."),
        Opt.flag("-p", "Show progress on a terminal."),
        Opt.flag("-q", "Quiet: no progress."),
        Opt.value("-m", "N", "Threads (default: available processors)."),
        Opt.flag("-c", "Compress the clusters (qcow2 targets; -o compression_type=zlib|zstd)."),
        Opt.value(
            "-B",
            "BACKING",
            "Give the target this backing file and write only the clusters that differ from it."),
        Opt.value("-F", "FMT", "The backing file's format (default: detect)."),
        Opt.value("-S", "SIZE", "Shortest run of zeros left unwritten (default 4k; 0 writes all)."),
        Opt.flag("-W", "Write clusters in the order they are ready, not guest order."),
        Opt.flag("-n", "Write into the existing target instead of creating it."),
        Opt.flag(
            "--target-is-zero", "With -n: the target reads zeros, so zeros need not be written."),
        Images.CACHE,
        Images.SOURCE_CACHE,
        ReportOptions.FORCE_SHARE,
        Secrets.OBJECT,
        Secrets.IMAGE_OPTS);
  }

  final Secrets secrets = new Secrets();

  String format;
  String snapshot;
  String outputFormat = "raw";
  final List<String> createOptions = new ArrayList<>();
  boolean progress;
  boolean quiet;
  String threads;
  boolean compress;
  String backing;
  String backingFormat;
  String sparse;
  boolean outOfOrder;
  boolean noCreate;
  boolean targetIsZero;

  /** The target's cache mode: qemu-img convert's default, unsafe, writes without flushes. */
  String cache = "unsafe";

  String source;
  String target;

  /** The operand that names standard input (as the source) or standard output (as the target). */
  private static final String STDIO = "-";

  @Override
  void set(String key, String value) {
    switch (key) {
      case "-f" -> format = value;
      case "-l" -> snapshot = value;
      case "-O" -> outputFormat = value;
      case "-o" -> createOptions.add(value);
      case "-p" -> progress = true;
      case "-q" -> quiet = true;
      case "-m" -> threads = value;
      case "-c" -> compress = true;
      case "-B" -> backing = value;
      case "-F" -> backingFormat = value;
      case "-S" -> sparse = value;
      case "-W" -> outOfOrder = true;
      case "-n" -> noCreate = true;
      case "--target-is-zero" -> targetIsZero = true;
      case "-t" -> {
        Images.checkCacheMode(value, false, 1);
        cache = value;
      }
      case "-T" -> Images.checkCacheMode(value, true, 1);
      case "--object" -> secrets.object(value);
      case "--image-opts" -> secrets.imageOpts = true;
      default -> {} // -U: images are never locked
    }
  }

  @Override
  void operands(List<String> values) {
    source = values.get(0);
    target = values.get(1);
  }

  @Override
  int run() throws IOException {
    if (!"raw".equals(outputFormat) && !"qcow2".equals(outputFormat)) {
      throw new UsageException("only -O raw and -O qcow2 are supported so far");
    }
    boolean raw = "raw".equals(outputFormat);
    if (raw && !createOptions.isEmpty()) {
      throw new UsageException("-o is only supported with -O qcow2");
    }
    if (raw && compress) {
      throw new UsageException("Compression not supported for this file format");
    }
    if (raw && backing != null) {
      throw new UsageException("Backing file not supported for file format 'raw'");
    }
    if (targetIsZero && !noCreate) {
      throw new UsageException("--target-is-zero requires use of -n flag");
    }
    if (noCreate && backing != null) {
      throw new UsageException("-B makes no sense when skipping image creation (-n)");
    }
    // qemu-img refuses a -m that is not a number with the same words as one out of range.
    int n =
        threads != null
            ? Images.integerOr(threads, 0)
            : Math.min(16, Runtime.getRuntime().availableProcessors());
    if (n < 1 || n > 16) {
      throw new UsageException(
          "Invalid number of coroutines. Allowed number of coroutines is between 1 and 16");
    }
    long minSparse = 4096;
    if (sparse != null) {
      minSparse = SizeParser.strtosz(sparse);
      if (minSparse < 0 || minSparse % 512 != 0 || minSparse > 2147483136L) {
        throw new UsageException(
            "Invalid buffer size for sparse output specified. "
                + "Valid sizes are multiples of 512 up to 2147483136. Select 0 to disable sparse detection "
                + "(fully allocates output).");
      }
    }
    boolean fromStdin = STDIO.equals(source);
    boolean toS3 = S3Location.isS3(target);
    boolean toStdout = STDIO.equals(target) || toS3;
    refuseForStandardStreams(fromStdin, toStdout);
    // Out of order has no meaning on a stream: the image goes out in guest order.
    ConvertOptions.Builder o =
        ConvertOptions.builder()
            .targetFormat(outputFormat)
            .threads(n)
            .outOfOrder(outOfOrder && !toStdout)
            .minSparse(minSparse)
            .noCreate(noCreate)
            .targetIsZero(targetIsZero)
            .noFlush(cache.equals("unsafe"));
    if (fromStdin) {
      // The size is known only at the end: no progress bar, and a qcow2 image grows as it is read.
      targetOptions(o, 0, toStdout);
      if (toStdout) {
        try (ImageStream out = stream(-1, n)) {
          ImageConverter.convert(standardInput(), out, o.build());
        }
      } else {
        ImageConverter.convert(standardInput(), Path.of(target), o.build());
      }
      return 0;
    }
    try (DiskImage image = openSource()) {
      // qemu-img draws progress only for a person watching; keep pipes and logs clean.
      ProgressBar bar =
          progress && !quiet && System.console() != null
              ? new ProgressBar(terminal, image.size())
              : null;
      if (bar != null) {
        bar.accept(0);
      }
      targetOptions(o.progress(bar), image.size(), toStdout);
      if (toStdout) {
        try (ImageStream out = stream(image.size(), n)) {
          ImageConverter.convert(image, out, o.build());
        }
      } else {
        ImageConverter.convert(image, Path.of(target), o.build());
      }
      if (bar != null) {
        bar.finish();
      }
    }
    return 0;
  }

  /** With -O qcow2: the new image's options (-o), compression (-c) and backing file (-B, -F). */
  private void targetOptions(ConvertOptions.Builder o, long sourceSize, boolean toStdout) {
    if ("raw".equals(outputFormat)) {
      return;
    }
    CreateOptionList opts = CreateOptionList.of("qcow2");
    for (String list : createOptions) {
      opts.parse(list);
    }
    long size = (sourceSize + 511) & ~511L;
    CreateOptions options = CreateCommand.qcow2Options(target, opts, size);
    String backingFile = backing;
    String backingFmt = backingFormat;
    if (options.backingFile() != null) {
      if (backing != null) {
        throw new UsageException("Using -B and -o backing_file at the same time is not supported");
      }
      backingFile = options.backingFile();
      backingFmt = backingFmt != null ? backingFmt : options.backingFormat();
      options = options.toBuilder().backingFile(null, null).build();
    }
    // Neither a stream target nor a new image grown from a stream source can have these.
    String stream = toStdout ? writing() : STDIO.equals(source) ? READING_STDIN : null;
    if (stream != null) {
      refuse(backingFile != null, "a backing file", stream);
      refuse(options.dataFile() != null, "an external data file", stream);
      refuse(options.preallocation() != CreateOptions.Preallocation.OFF, "preallocation", stream);
    }
    if (stream != null) {
      refuse(options.encryption() != null, "encryption", stream);
    }
    if (options.encryption() != null) {
      if (compress) {
        throw new IllegalArgumentException(
            "Compression and encryption not supported at the same time");
      }
      o.targetOpenOptions(
          secrets.withKey(OpenOptions.defaults(), opts.string("encrypt.key-secret")));
    }
    o.createOptions(options).compress(compress);
    if (backingFile != null) {
      o.backing(backingFile, backingFmt);
    }
  }

  private static final String WRITING_STDOUT = "writing to standard output";
  private static final String WRITING_S3 = "writing to an s3:// object";

  private String writing() {
    return S3Location.isS3(target) ? WRITING_S3 : WRITING_STDOUT;
  }

  /**
   * The forward-only target: an S3 multipart upload for an s3:// name (about {@code size} bytes, or
   * -1 when unknown), else standard output.
   */
  private ImageStream stream(long size, int threads) throws IOException {
    if (S3Location.isS3(target)) {
      // A qcow2 image is a little longer than the disk: room for its tables in the part size.
      return S3ImageStream.open(target, size < 0 ? -1 : size + size / 64 + (64 << 20), threads);
    }
    return ImageStream.of(standardOutput());
  }

  private static final String READING_STDIN = "reading standard input";

  private static void refuse(boolean used, String what, String stream) {
    if (used) {
      throw new UsageException(what + " cannot be used when " + stream);
    }
  }

  /**
   * "-" as the source (a raw disk on standard input, read once) or the target (the image on
   * standard output, written front to back): what cannot work there is refused in one line.
   */
  private void refuseForStandardStreams(boolean fromStdin, boolean toStdout) {
    if (toStdout) {
      refuse(noCreate, "-n", writing());
      refuse(backing != null, "-B", writing());
    }
    if (!fromStdin) {
      return;
    }
    if (!"raw".equals(format)) {
      throw new UsageException(
          "reading standard input needs -f raw (no format can be detected on a stream)");
    }
    refuse(snapshot != null, "-l", READING_STDIN);
    refuse(noCreate, "-n", READING_STDIN);
    refuse(backing != null, "-B", READING_STDIN);
    if (toStdout && !"raw".equals(outputFormat)) {
      throw new UsageException(
          "a qcow2 image cannot be "
              + writing().replace("writing", "written")
              + " from standard input: "
              + "its layout cannot be planned from a source read once");
    }
  }

  /** The process's standard input, for a raw disk read once. */
  private static ReadableByteChannel standardInput() {
    return new FileInputStream(FileDescriptor.in).getChannel();
  }

  /**
   * The process's standard output, a file or a pipe, written in order. Nothing else goes there:
   * messages and progress go to standard error.
   */
  private static WritableByteChannel standardOutput() {
    return new FileOutputStream(FileDescriptor.out).getChannel();
  }

  /** The source, or with -l its snapshot, refused in qemu-img's words when there is none. */
  private DiskImage openSource() throws IOException {
    OpenOptions options = snapshot == null ? OpenOptions.defaults() : snapshotOptions(snapshot);
    try {
      return secrets.open(secrets.spec(source, format), options);
    } catch (NoSuchSnapshotException e) {
      throw new UsageException("Failed to load snapshot: Can't find snapshot");
    } catch (UnsupportedOperationException e) {
      if (snapshot != null) {
        throw new UsageException(
            "Failed to load snapshot: Block format 'raw' used by device '' does not "
                + "support temporarily loading internal snapshots");
      }
      throw e;
    }
  }

  /**
   * qemu-img convert's -l: "snapshot.id=ID,snapshot.name=NAME" (either or both; ",," is a comma),
   * or else the id or name of a snapshot.
   */
  static OpenOptions snapshotOptions(String param) {
    if (!param.startsWith("snapshot.")) {
      return OpenOptions.builder().snapshot(param).build();
    }
    String id = null;
    String name = null;
    for (String item : CreateOptionList.split(param)) {
      int eq = item.indexOf('=');
      String key = eq < 0 ? item : item.substring(0, eq);
      String value = eq < 0 ? "on" : item.substring(eq + 1);
      switch (key) {
        case "snapshot.id" -> id = value;
        case "snapshot.name" -> name = value;
        case "id" -> {} // the option group's own id, which qemu's parser takes and ignores here
        default ->
            throw new UsageException(
                "Invalid parameter '"
                    + key
                    + "'\n"
                    + "qcow2: Failed in parsing snapshot param '"
                    + param
                    + "'");
      }
    }
    return OpenOptions.builder().snapshot(id, name).build();
  }
}
