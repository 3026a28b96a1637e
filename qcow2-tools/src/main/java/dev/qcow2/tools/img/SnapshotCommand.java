package dev.qcow2.tools.img;

import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import java.io.IOException;
import java.nio.file.Path;
import java.time.ZoneId;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 snapshot [-l | -c NAME | -a NAME | -d NAME] FILE}: qemu-img's internal snapshot
 * verb, with its messages and exit codes. Without an action it does nothing, as qemu-img.
 */
@Command(name = "snapshot", description = "List, create, apply or delete internal snapshots.")
final class SnapshotCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "-l", description = "List the snapshots.")
  boolean list;

  @Option(names = "-c", paramLabel = "NAME", description = "Create a snapshot.")
  String create;

  @Option(names = "-a", paramLabel = "NAME", description = "Apply a snapshot (by id or name).")
  String apply;

  @Option(names = "-d", paramLabel = "NAME", description = "Delete a snapshot (by id or name).")
  String delete;

  @Option(names = "-f", paramLabel = "FMT", description = "The image's format: qcow2.")
  String format;

  @Option(names = "-q", description = "Quiet.")
  boolean quiet;

  @Option(names = {"-U", "--force-share"}, description = "Accepted for qemu-img compatibility.")
  boolean forceShare;

  @Parameters(index = "0", paramLabel = "FILE")
  String file;

  @Override
  public Integer call() throws IOException {
    int actions = (list ? 1 : 0) + (create != null ? 1 : 0) + (apply != null ? 1 : 0) + (delete != null ? 1 : 0);
    if (actions > 1) {
      throw new ParameterException(spec.commandLine(), "Cannot mix '-l', '-a', '-c', '-d'");
    }
    if (format != null && !format.equals("qcow2")) {
      throw new ParameterException(spec.commandLine(), "only qcow2 images have internal snapshots");
    }
    if (actions == 0) {
      return 0;
    }
    Path path = Path.of(file);
    if (list) {
      try (Qcow2Image image = Qcow2Image.open(path, OpenOptions.builder().openBacking(false).build())) {
        if (!image.snapshots().isEmpty()) {
          StringBuilder sb = new StringBuilder();
          ImageInfoText.snapshotList(sb, image.snapshots(), ZoneId.systemDefault());
          spec.commandLine().getOut().print(sb);
          spec.commandLine().getOut().flush();
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
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException("Could not apply snapshot '" + apply + "': Failed to load snapshot: "
              + "No such file or directory", e);
        }
      } else {
        try {
          image.deleteSnapshot(delete);
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException("Could not delete snapshot '" + delete + "': snapshot not found", e);
        }
      }
    }
    return 0;
  }
}
