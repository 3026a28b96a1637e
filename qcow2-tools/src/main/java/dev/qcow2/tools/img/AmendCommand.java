package dev.qcow2.tools.img;

import dev.qcow2.AmendOptions;
import dev.qcow2.Qcow2Image;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 amend -o OPTIONS [-f qcow2] [-q] FILE}: qemu-img amend's qcow2 options compat,
 * lazy_refcounts, refcount_bits, backing_file and backing_fmt; creation-only options are refused
 * with qemu-img's message.
 */
@Command(name = "amend", description = "Change the options of an existing qcow2 image.")
final class AmendCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  private static final Set<String> AMENDABLE = Set.of("compat", "lazy_refcounts", "refcount_bits", "backing_file",
      "backing_fmt");

  @Option(names = "-o", paramLabel = "OPTIONS", description = "The options to change, as qemu-img create's -o.")
  List<String> options = new ArrayList<>();

  @Option(names = "-f", paramLabel = "FMT", description = "The image's format: qcow2.")
  String format;

  @Option(names = "-q", description = "Quiet.")
  boolean quiet;

  @Option(names = "-p", description = "Show progress (accepted; amend is quick).")
  boolean progress;

  @Option(names = "--force", description = "Accepted for qemu-img compatibility.")
  boolean force;

  @Parameters(index = "0", paramLabel = "FILE")
  String file;

  @Override
  public Integer call() throws IOException {
    if (options.isEmpty()) {
      throw new ParameterException(spec.commandLine(), "Must specify options (-o)");
    }
    if (format != null && !format.equals("qcow2")) {
      throw new ParameterException(spec.commandLine(), "only qcow2 images can be amended");
    }
    CreateOptionList opts = CreateOptionList.of("qcow2");
    for (String list : options) {
      try {
        opts.parse(list);
      } catch (IllegalArgumentException e) {
        throw new ParameterException(spec.commandLine(), e.getMessage());
      }
    }
    AmendOptions.Builder b = AmendOptions.builder();
    for (String name : List.of("size", "cluster_size", "preallocation", "extended_l2", "compression_type", "data_file",
        "data_file_raw", "encryption", "encrypt.format")) {
      if (opts.knows(name) && opts.isSet(name) && !AMENDABLE.contains(name)) {
        throw new ParameterException(spec.commandLine(),
            "Invalid parameter '" + name + "'\nThis option is only supported for image creation");
      }
    }
    if (opts.isSet("compat")) {
      String compat = opts.string("compat");
      b.version(switch (compat) {
        case "0.10", "v2" -> 2;
        case "1.1", "v3" -> 3;
        default -> throw new ParameterException(spec.commandLine(), "Invalid compatibility level: '" + compat + "'");
      });
    }
    if (opts.isSet("lazy_refcounts")) {
      b.lazyRefcounts(opts.bool("lazy_refcounts"));
    }
    if (opts.isSet("refcount_bits")) {
      b.refcountBits((int) opts.number("refcount_bits", 16));
    }
    if (opts.isSet("backing_file") || opts.isSet("backing_fmt")) {
      String backing = opts.isSet("backing_file") ? opts.string("backing_file") : currentBacking();
      String backingFmt = opts.isSet("backing_fmt") ? opts.string("backing_fmt") : null;
      if (backingFmt == null && backing != null && !backing.isEmpty()) {
        // As rebase: the format of the file the name leads to (relative to the image's folder).
        Path p = Path.of(CreateCommand.fullBackingName(file, backing));
        if (java.nio.file.Files.exists(p)) {
          backingFmt = dev.qcow2.DiskImage.isQcow2(p) ? "qcow2" : "raw";
        }
      }
      b.backingFile(backing, backingFmt);
    }
    Qcow2Image.amend(Path.of(file), b.build());
    return 0;
  }

  private String currentBacking() throws IOException {
    try (Qcow2Image img = Qcow2Image.open(Path.of(file), dev.qcow2.OpenOptions.builder().openBacking(false).build())) {
      return img.backingFileName();
    }
  }
}
