package dev.qcow2.tools.img;

import dev.qcow2.BackingName;
import dev.qcow2.CompressionType;
import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.tools.cli.ErrorLine;
import dev.qcow2.tools.cli.SizeParser;
import dev.qcow2.tools.cli.UsageException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code qcow2 create}: qemu-img 7.2's create, its checks in its order (bdrv_img_create, then
 * qcow2_co_create), its messages and its "Formatting" line; the image is written by the library.
 */
final class CreateCommand extends Verb {
  CreateCommand() {
    super(
        "create",
        "Create a new image (as qemu-img create).",
        "FILE [SIZE]",
        0,
        Integer.MAX_VALUE,
        Opt.value("-f", "FMT", "Image format: qcow2 or raw (default: raw, as qemu-img's)."),
        Opt.value(
            "-o",
            "OPTIONS",
            "Format options, comma-separated (-o help lists them); may be repeated."),
        Opt.value("-b", "BACKING", "Backing file, relative to FILE's folder."),
        Opt.value("-F", "FMT", "Backing file format: qcow2 or raw."),
        Opt.flag("-u", "Do not open the backing file (SIZE is then needed)."),
        Opt.flag("-q", "Quiet: no Formatting line."),
        Secrets.OBJECT);
  }

  final Secrets secrets = new Secrets();

  String format = "raw";
  final List<String> options = new ArrayList<>();
  String backingFile;
  String backingFormat;
  boolean unsafe;
  boolean quiet;
  final List<String> args = new ArrayList<>();

  @Override
  void set(String key, String value) {
    switch (key) {
      case "-f" -> format = value;
      case "-o" -> options.add(value);
      case "-b" -> backingFile = value;
      case "-F" -> backingFormat = value;
      case "-u" -> unsafe = true;
      case "--object" -> secrets.object(value);
      default -> quiet = true; // -q
    }
  }

  @Override
  void operands(List<String> values) {
    args.addAll(values);
  }

  @Override
  int run() throws IOException {
    String optionList = options.isEmpty() ? null : String.join(",", options);
    if (optionList != null && CreateOptionList.asksForHelp(optionList)) {
      CreateOptionList list = CreateOptionList.of(format);
      if (list == null) {
        throw new IllegalArgumentException("Unknown file format '" + format + "'");
      }
      out.print(list.help());
      out.flush();
      return 0;
    }
    if (args.isEmpty()) {
      throw new UsageException("Expecting image file name");
    }
    String file = args.get(0);
    long imgSize = -1;
    if (args.size() > 1) {
      imgSize = imageSize(args.get(1));
    }
    if (args.size() > 2) {
      throw new UsageException("Unexpected argument: " + args.get(2));
    }
    try {
      create(out, file, optionList, imgSize);
    } finally {
      out.flush();
      secrets.wipe();
    }
    return 0;
  }

  /** qemu-img's cvtnum("image size"): both of its messages. */
  private long imageSize(String text) {
    try {
      return SizeParser.parseSigned(text);
    } catch (SizeParser.InvalidSizeException e) {
      throw Images.invalidImageSize(e);
    }
  }

  /** bdrv_img_create: every failure is "FILE: message". */
  private void create(PrintWriter out, String file, String optionList, long imgSize)
      throws IOException {
    CreateOptionList opts = CreateOptionList.of(format);
    if (opts == null) {
      throw fail(file, "Unknown file format '" + format + "' (only qcow2 and raw can be created)");
    }
    try {
      if (optionList != null) {
        opts.parse(optionList);
      }
    } catch (IllegalArgumentException e) {
      throw fail(file, e.getMessage());
    }
    if (opts.isSet("size") && imgSize != -1) {
      throw fail(file, "The image size must be specified only once");
    }
    if (imgSize != -1) {
      opts.setNumber("size", imgSize);
    }
    if (backingFile != null) {
      if (!opts.knows("backing_file")) {
        throw fail(file, "Backing file not supported for file format '" + format + "'");
      }
      opts.set("backing_file", backingFile);
    }
    if (backingFormat != null) {
      if (!opts.knows("backing_fmt")) {
        throw fail(file, "Backing file format not supported for file format '" + format + "'");
      }
      opts.set("backing_fmt", backingFormat);
    }
    String backing = opts.knows("backing_file") ? opts.string("backing_file") : null;
    String backingFmt = opts.knows("backing_fmt") ? opts.string("backing_fmt") : null;
    if (backing != null) {
      if (backing.equals(file)) {
        throw fail(
            file, "Error: Trying to create an image with the same filename as the backing file");
      }
      if (backing.isEmpty()) {
        throw fail(file, "Expected backing file name, got empty string");
      }
    }
    if (backing != null && !unsafe) {
      long backingSize = openBacking(file, backing, backingFmt);
      if (!opts.isSet("size")) {
        opts.setNumber("size", backingSize);
      }
    } else if (backing != null && backingFmt == null) {
      throw fail(file, "Backing file specified without backing format");
    }
    if (!opts.isSet("size")) {
      throw fail(file, "Image creation needs a size parameter");
    }
    if (!quiet) {
      out.print(opts.formattingLine(file));
      out.flush();
    }
    // qcow2 and raw round the size up to whole sectors silently.
    long size = opts.number("size", 0);
    if (size < 0 || size > Long.MAX_VALUE - 511) {
      throw fail(file, "Invalid image size specified. Must be between 0 and 9223372036854775807.");
    }
    size = (size + 511) & ~511L;
    try {
      if (format.equals("raw")) {
        createRaw(file, size, opts.string("preallocation"));
      } else {
        createQcow2(file, qcow2Options(file, opts, size), opts.string("encrypt.key-secret"));
      }
    } catch (NoSuchFileException | AccessDeniedException e) {
      String why =
          e instanceof NoSuchFileException ? "No such file or directory" : "Permission denied";
      throw fail(file, "Could not create '" + file + "': " + why);
    } catch (IOException | UnsupportedOperationException e) {
      throw fail(file, ErrorLine.describe(e));
    }
  }

  /** Opens the backing file as qemu does (relative to FILE's folder) and returns its size. */
  private static long openBacking(String file, String backing, String backingFmt) {
    String full = BackingName.resolve(Path.of(file), backing).toString();
    DiskImage image;
    try {
      image = Images.open(full, backingFmt, OpenOptions.defaults());
    } catch (IOException | IllegalArgumentException e) {
      throw fail(file, ErrorLine.describe(e) + "\nCould not open backing image.");
    }
    try (image) {
      if (backingFmt == null) {
        throw fail(
            file,
            "Backing file specified without backing format\nDetected format of "
                + image.format()
                + ".");
      }
      return (image.size() + 511) & ~511L;
    } catch (IOException e) {
      throw fail(file, ErrorLine.describe(e));
    }
  }

  /**
   * qcow2_co_create: the option values are read here (QAPI's messages for a value it does not
   * know); whether they go together, and qemu's words when they do not, are the library's.
   */
  static CreateOptions qcow2Options(String file, CreateOptionList opts, long size) {
    String compat = opts.string("compat");
    int version = 3;
    if (compat != null) {
      version =
          switch (compat) {
            case "0.10", "v2" -> 2;
            case "1.1", "v3" -> 3;
            default ->
                throw fail(file, "Parameter 'version' does not accept value '" + compat + "'");
          };
    }
    String prealloc = opts.string("preallocation");
    CreateOptions.Preallocation preallocation = CreateOptions.Preallocation.OFF;
    if (prealloc != null) {
      preallocation =
          switch (prealloc) {
            case "off" -> CreateOptions.Preallocation.OFF;
            case "metadata" -> CreateOptions.Preallocation.METADATA;
            case "falloc" -> CreateOptions.Preallocation.FALLOC;
            case "full" -> CreateOptions.Preallocation.FULL;
            default ->
                throw fail(
                    file, "Parameter 'preallocation' does not accept value '" + prealloc + "'");
          };
    }
    String compression = opts.string("compression_type");
    CompressionType compressionType =
        switch (compression) {
          case "zlib" -> CompressionType.ZLIB;
          case "zstd" -> CompressionType.ZSTD;
          default ->
              throw fail(
                  file, "Parameter 'compression-type' does not accept value '" + compression + "'");
        };
    try {
      return CreateOptions.builder(size)
          .version(version)
          .clusterSize(saturatedInt(opts.number("cluster_size", 65536)))
          .refcountBits(saturatedInt(opts.number("refcount_bits", 16)))
          .lazyRefcounts(opts.bool("lazy_refcounts"))
          .extendedL2(opts.bool("extended_l2"))
          .compressionType(compressionType)
          .preallocation(preallocation)
          .backingFile(opts.string("backing_file"), opts.string("backing_fmt"))
          .dataFile(
              opts.string("data_file"), opts.isSet("data_file_raw") && opts.bool("data_file_raw"))
          .encryption(EncryptOptions.luks(opts))
          .build();
    } catch (IllegalArgumentException e) {
      throw fail(file, e.getMessage());
    }
  }

  /** A number out of int's range stays out of every range the library accepts. */
  private static int saturatedInt(long value) {
    return (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, value));
  }

  /** With -u the backing file is not opened, so it need not exist, as with qemu-img create -u. */
  private void createQcow2(String file, CreateOptions options, String keySecret)
      throws IOException {
    OpenOptions open;
    try {
      open = secrets.withKey(OpenOptions.builder().openBacking(!unsafe).build(), keySecret);
    } catch (IllegalArgumentException e) {
      throw fail(file, e.getMessage());
    }
    Qcow2Image.create(Path.of(file), options, open).close();
  }

  /** A raw file of {@code size} bytes: sparse, or written with zeros for full and falloc. */
  private static void createRaw(String file, long size, String preallocation) throws IOException {
    String mode = preallocation == null ? "off" : preallocation;
    if (mode.equals("metadata")) {
      throw fail(file, "Unsupported preallocation mode: metadata");
    }
    if (!mode.equals("off") && !mode.equals("falloc") && !mode.equals("full")) {
      throw fail(file, "Parameter 'preallocation' does not accept value '" + mode + "'");
    }
    try (RandomAccessFile f = new RandomAccessFile(Path.of(file).toFile(), "rw")) {
      f.setLength(0);
      if (!mode.equals("off")) {
        // Java cannot fallocate: falloc is written with zeros as full is.
        byte[] zeros = new byte[1 << 20];
        for (long at = 0; at < size; at += zeros.length) {
          f.write(zeros, 0, (int) Math.min(zeros.length, size - at));
        }
      }
      f.setLength(size);
    } catch (java.io.FileNotFoundException e) {
      // RandomAccessFile says why only in its message: "FILE (No such file or directory)".
      String why =
          e.getMessage() != null && e.getMessage().endsWith("(No such file or directory)")
              ? "No such file or directory"
              : "Permission denied";
      throw fail(file, "Could not create '" + file + "': " + why);
    } catch (IOException e) {
      if ("File too large".equals(e.getMessage())) {
        throw fail(file, "The image size is too large for file format 'raw'");
      }
      throw e;
    }
  }

  private static IllegalArgumentException fail(String file, String message) {
    return new IllegalArgumentException(file + ": " + message);
  }
}
