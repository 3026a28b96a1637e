package dev.qcow2.tools.img;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.CheckReport;
import dev.qcow2.ImageChecker;
import dev.qcow2.tools.cli.JsonOutput;
import dev.qcow2.tools.cli.UsageException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * {@code qcow2 check}: qemu-img check's report, repairs, output forms and exit codes (0 clean, 2
 * corruptions, 3 leaks only, 1 when the check could not be done).
 */
final class CheckCommand extends Verb {
  CheckCommand() {
    super(
        "check",
        "Check an image's consistency and repair it (as qemu-img check).",
        "FILE",
        1,
        1,
        ReportOptions.OUTPUT,
        ReportOptions.FORCE_SHARE,
        Opt.value("-r", "leaks|all", "Repair leaks, or everything."),
        Opt.value("-f", "FMT", "Image format: only qcow2 can be checked."),
        Opt.flag("-q", "Quiet: print nothing."),
        Images.SOURCE_CACHE,
        Secrets.OBJECT,
        Secrets.IMAGE_OPTS);
  }

  final Secrets secrets = new Secrets();

  final ReportOptions report = new ReportOptions();
  String repair;
  String format;
  boolean quiet;
  String file;

  @Override
  void set(String key, String value) {
    if (!report.set(key, value)) {
      switch (key) {
        case "-r" -> repair = value;
        case "-q" -> quiet = true;
        case "-T" -> Images.checkCacheMode(value, true, 1);
        case "--object" -> secrets.object(value);
        case "--image-opts" -> secrets.imageOpts = true;
        default -> format = value; // -f
      }
    }
  }

  @Override
  void operands(List<String> values) {
    file = values.get(0);
  }

  @Override
  int run() throws IOException {
    // The check reads no guest data: an encrypted image's secret is taken but not needed.
    Secrets.ImageSpec spec = secrets.spec(file, format);
    file = spec.file();
    format = spec.format();
    secrets.wipe();
    boolean json = report.json();
    ImageChecker.Repair mode = ImageChecker.Repair.NONE;
    if (repair != null) {
      switch (repair) {
        case "leaks" -> mode = ImageChecker.Repair.LEAKS;
        case "all" -> mode = ImageChecker.Repair.ALL;
        default -> throw new UsageException("Invalid option for -r: " + repair);
      }
    }
    if (format != null && !format.equals("qcow2")) {
      throw new UsageException("This image format does not support checks");
    }
    Path path = Images.isRemote(file) ? null : Path.of(file);
    CheckReport first =
        path == null
            ? Images.checkRemote(file, mode)
            : ImageChecker.check(path, ImageChecker.Repair.NONE);
    if (!quiet) {
      first.messages().forEach(m -> err.print(m + "\n"));
    }
    CheckReport result = first;
    if (mode != ImageChecker.Repair.NONE && !first.isClean()) {
      if (!quiet) {
        for (String m : first.messages()) {
          if (m.startsWith("Leaked cluster ")
              || (mode == ImageChecker.Repair.ALL && m.startsWith("ERROR cluster "))) {
            err.print("Repairing " + m.substring(m.indexOf("cluster ")) + "\n");
          }
        }
      }
      result = ImageChecker.check(path, mode);
    } else if (mode == ImageChecker.Repair.ALL) {
      result = ImageChecker.check(path, mode); // clears a stale corrupt or dirty bit
    }
    err.flush();
    if (quiet) {
      return result.exitCode();
    }
    if (json) {
      out.print(JsonOutput.pretty(json(result)) + "\n");
    } else {
      out.print(human(result));
    }
    return result.exitCode();
  }

  /** qemu's ImageCheck: filename, format and check-errors always, the counters when not zero. */
  private ObjectNode json(CheckReport r) {
    ObjectNode o = JsonOutput.object();
    o.put("filename", file);
    o.put("format", "qcow2");
    o.put("check-errors", r.checkErrors());
    putNonZero(o, "image-end-offset", r.imageEndOffset());
    putNonZero(o, "corruptions", r.corruptions());
    putNonZero(o, "leaks", r.leaks());
    putNonZero(o, "corruptions-fixed", r.corruptionsFixed());
    putNonZero(o, "leaks-fixed", r.leaksFixed());
    putNonZero(o, "total-clusters", r.totalClusters());
    putNonZero(o, "allocated-clusters", r.allocatedClusters());
    putNonZero(o, "fragmented-clusters", r.fragmentedClusters());
    putNonZero(o, "compressed-clusters", r.compressedClusters());
    return o;
  }

  private static void putNonZero(ObjectNode o, String key, long value) {
    if (value != 0) {
      o.put(key, value);
    }
  }

  /** qemu-img's human report, after its repair summary when something was repaired. */
  private static String human(CheckReport r) {
    StringBuilder sb = new StringBuilder();
    if (r.leaksFixed() > 0 || r.corruptionsFixed() > 0) {
      sb.append("The following inconsistencies were found and repaired:\n\n")
          .append("    ")
          .append(r.leaksFixed())
          .append(" leaked clusters\n")
          .append("    ")
          .append(r.corruptionsFixed())
          .append(" corruptions\n\n")
          .append("Double checking the fixed image now...\n");
    }
    if (r.isClean()) {
      sb.append("No errors were found on the image.\n");
    } else {
      if (r.corruptions() > 0) {
        sb.append('\n')
            .append(r.corruptions())
            .append(" errors were found on the image.\n")
            .append("Data may be corrupted, or further writes to the image may corrupt it.\n");
      }
      if (r.leaks() > 0) {
        sb.append('\n')
            .append(r.leaks())
            .append(" leaked clusters were found on the image.\n")
            .append("This means waste of disk space, but no harm to data.\n");
      }
      if (r.checkErrors() > 0) {
        sb.append('\n')
            .append(r.checkErrors())
            .append(" internal errors have occurred during the check.\n");
      }
    }
    if (r.totalClusters() != 0 && r.allocatedClusters() != 0) {
      sb.append(
          String.format(
              Locale.ROOT,
              "%d/%d = %.2f%% allocated, %.2f%% fragmented, %.2f%% compressed clusters\n",
              r.allocatedClusters(),
              r.totalClusters(),
              r.allocatedClusters() * 100.0 / r.totalClusters(),
              r.fragmentedClusters() * 100.0 / r.allocatedClusters(),
              r.compressedClusters() * 100.0 / r.allocatedClusters()));
    }
    if (r.imageEndOffset() > 0) {
      sb.append("Image end offset: ").append(r.imageEndOffset()).append('\n');
    }
    return sb.toString();
  }
}
