package dev.qcow2.tools.img;

import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.tools.cli.UsageException;
import java.io.IOException;
import java.nio.file.Path;
import java.time.ZoneId;
import java.util.List;

/**
 * {@code qcow2 snapshot [-l | -c NAME | -a NAME | -d NAME] FILE}: qemu-img's internal snapshot
 * verb, with its messages and exit codes. Without an action it does nothing, as qemu-img.
 */
final class SnapshotCommand extends Verb {
  SnapshotCommand() {
    super(
        "snapshot",
        "List, create, apply or delete internal snapshots.",
        "FILE",
        1,
        1,
        Opt.flag("-l", "List the snapshots."),
        Opt.value("-c", "NAME", "Create a snapshot."),
        Opt.value("-a", "NAME", "Apply a snapshot (by id or name)."),
        Opt.value("-d", "NAME", "Delete a snapshot (by id or name)."),
        Opt.value("-f", "FMT", "The image's format: qcow2."),
        Opt.flag("-q", "Quiet."),
        ReportOptions.FORCE_SHARE);
  }

  boolean list;
  String create;
  String apply;
  String delete;
  String format;
  boolean quiet;
  String file;

  @Override
  void set(String key, String value) {
    switch (key) {
      case "-l" -> list = true;
      case "-c" -> create = value;
      case "-a" -> apply = value;
      case "-d" -> delete = value;
      case "-f" -> format = value;
      case "-q" -> quiet = true;
      default -> {} // -U: images are never locked
    }
  }

  @Override
  void operands(List<String> values) {
    file = values.get(0);
  }

  @Override
  int run() throws IOException {
    int actions =
        (list ? 1 : 0)
            + (create != null ? 1 : 0)
            + (apply != null ? 1 : 0)
            + (delete != null ? 1 : 0);
    if (actions > 1) {
      throw new UsageException("Cannot mix '-l', '-a', '-c', '-d'");
    }
    if (format != null && !format.equals("qcow2")) {
      throw new UsageException("only qcow2 images have internal snapshots");
    }
    if (actions == 0) {
      return 0;
    }
    Path path = Path.of(file);
    if (list) {
      try (Qcow2Image image =
          Qcow2Image.open(path, OpenOptions.builder().openBacking(false).build())) {
        if (!image.snapshots().isEmpty()) {
          StringBuilder sb = new StringBuilder();
          ImageInfoText.snapshotList(sb, image.snapshots(), ZoneId.systemDefault());
          out.print(sb);
          out.flush();
        }
      }
      return 0;
    }
    try (Qcow2Image image = Qcow2Image.open(path, OpenOptions.builder().writable(true).build())) {
      if (create != null) {
        image.createSnapshot(create);
      } else if (apply != null) {
        try {
          image.applySnapshot(apply);
        } catch (IllegalStateException e) { // bitmaps: qemu-img's words
          throw new IllegalArgumentException(
              "Could not apply snapshot '" + apply + "': " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException(
              "Could not apply snapshot '"
                  + apply
                  + "': Failed to load snapshot: "
                  + "No such file or directory",
              e);
        }
      } else {
        try {
          image.deleteSnapshot(delete);
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException(
              "Could not delete snapshot '" + delete + "': snapshot not found", e);
        }
      }
    }
    return 0;
  }
}
