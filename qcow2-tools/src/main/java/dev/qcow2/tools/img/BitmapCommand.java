package dev.qcow2.tools.img;

import dev.qcow2.DirtyBitmaps;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.tools.cli.SizeParser;
import dev.qcow2.tools.cli.UsageException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code qcow2 bitmap (--add [-g GRANULARITY] [--disable] | --remove | --clear | --enable |
 * --disable | --merge SOURCE [-b SOURCE_FILE [-F FMT]])... FILE BITMAP}: qemu-img's persistent
 * bitmap verb. The actions run in the order given; the first that fails stops the rest with
 * qemu-img's "Operation ... failed" line, and what ran before it is kept, as qemu-img keeps it.
 */
final class BitmapCommand extends Verb {
  BitmapCommand() {
    super(
        "bitmap",
        "Add, remove, clear, enable, disable or merge persistent dirty bitmaps.",
        "FILE BITMAP",
        0,
        Integer.MAX_VALUE,
        Opt.flag("--add", "Add the bitmap (enabled, unless --disable follows)."),
        Opt.flag("--remove", "Remove the bitmap."),
        Opt.flag("--clear", "Unmark every bit of the bitmap."),
        Opt.flag("--enable", "Make the bitmap track writes."),
        Opt.flag("--disable", "Make the bitmap stop tracking writes."),
        Opt.value("--merge", "SOURCE", "Mark in the bitmap what bitmap SOURCE marks."),
        Opt.value("-g", "GRANULARITY", "Bytes one bit covers, for --add (512 B to 2 GiB)."),
        Opt.value("-b", "SOURCE_FILE", "The image that holds the --merge SOURCE bitmap."),
        Opt.value("-F", "SOURCE_FMT", "SOURCE_FILE's format."),
        Opt.value("-f", "FMT", "The image's format: qcow2."));
  }

  /** One action, in command-line order. */
  private record Action(String name, String source) {}

  /** What qemu-img adds after refusing a bitmap flagged in use. */
  private static final String REMOVE_HINT =
      "Try block-dirty-bitmap-remove to delete this bitmap from disk";

  private final List<Action> actions = new ArrayList<>();
  private long granularity;
  private String sourceFile;
  private String sourceFormat;
  private String format;
  private List<String> operands;

  @Override
  void set(String key, String value) {
    switch (key) {
      case "--merge" -> actions.add(new Action("merge", value));
      case "-g" -> granularity = granularity(value);
      case "-b" -> sourceFile = value;
      case "-F" -> sourceFormat = value;
      case "-f" -> format = value;
      default -> actions.add(new Action(key.substring(2), null));
    }
  }

  private static long granularity(String value) {
    try {
      return SizeParser.parseSigned(value);
    } catch (SizeParser.InvalidSizeException e) {
      throw new UsageException(
          "Invalid granularity specified. You may use k, M, G, T, P or E suffixes for\n"
              + "qcow2: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
    }
  }

  @Override
  void operands(List<String> values) {
    operands = values;
  }

  @Override
  int run() throws IOException {
    // qemu-img's checks, in its order.
    if (actions.isEmpty()) {
      throw new UsageException(
          "Need at least one of --add, --remove, --clear, --enable, --disable, or --merge");
    }
    boolean add = actions.stream().anyMatch(a -> a.name().equals("add"));
    boolean merge = actions.stream().anyMatch(a -> a.name().equals("merge"));
    if (granularity != 0 && !add) {
      throw new UsageException("granularity only supported with --add");
    }
    if (sourceFile != null && !merge) {
      throw new UsageException("Merge bitmap source file only supported with --merge");
    }
    if (sourceFormat != null && sourceFile == null) {
      throw new UsageException("-F only supported with -b");
    }
    if (operands.size() != 2) {
      throw new UsageException("Expecting filename and bitmap name");
    }
    if (format != null && !format.equals("qcow2")) {
      throw new IllegalArgumentException(
          "Operation "
              + actions.get(0).name()
              + " on bitmap "
              + operands.get(1)
              + " failed: only qcow2 images hold persistent bitmaps");
    }
    String bitmap = operands.get(1);
    try (Qcow2Image image =
        Qcow2Image.open(
            Path.of(operands.get(0)),
            OpenOptions.builder().writable(true).openBacking(false).build())) {
      for (Action a : actions) {
        try {
          apply(image, a, bitmap);
        } catch (IllegalArgumentException | IllegalStateException e) {
          err.print(
              "qcow2: Operation "
                  + a.name()
                  + " on bitmap "
                  + bitmap
                  + " failed: "
                  + e.getMessage()
                  + (e instanceof IllegalStateException ? "\n" + REMOVE_HINT : "")
                  + "\n");
          err.flush();
          return 1;
        }
      }
    }
    return 0;
  }

  private void apply(Qcow2Image image, Action a, String bitmap) throws IOException {
    DirtyBitmaps bitmaps = image.dirtyBitmaps();
    switch (a.name()) {
      case "add" -> bitmaps.add(bitmap, defaultGranularity(image), true);
      case "remove" -> bitmaps.remove(bitmap);
      case "clear" -> bitmaps.clear(bitmap);
      case "enable" -> bitmaps.setEnabled(bitmap, true);
      case "disable" -> bitmaps.setEnabled(bitmap, false);
      default -> merge(image, bitmap, a.source());
    }
  }

  /** qemu's default: the cluster size, between 4 KiB and 64 KiB. */
  private long defaultGranularity(Qcow2Image image) {
    return granularity != 0 ? granularity : Math.max(4096, Math.min(65536, image.clusterSize()));
  }

  private void merge(Qcow2Image image, String bitmap, String source) throws IOException {
    if (sourceFile == null) {
      image.dirtyBitmaps().merge(bitmap, image, source);
      return;
    }
    if (sourceFormat != null && !sourceFormat.equals("qcow2")) {
      throw new IllegalArgumentException("Dirty bitmap '" + source + "' not found");
    }
    try (Qcow2Image from =
        Qcow2Image.open(Path.of(sourceFile), OpenOptions.builder().openBacking(false).build())) {
      image.dirtyBitmaps().merge(bitmap, from, source);
    }
  }
}
