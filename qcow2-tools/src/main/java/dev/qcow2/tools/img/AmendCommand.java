package dev.qcow2.tools.img;

import dev.qcow2.AmendOptions;
import dev.qcow2.BackingName;
import dev.qcow2.Qcow2Image;
import dev.qcow2.tools.cli.UsageException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code qcow2 amend -o OPTIONS [-f qcow2] [-q] FILE}: qemu-img amend's qcow2 options compat,
 * lazy_refcounts, refcount_bits, backing_file and backing_fmt; creation-only options are refused
 * with qemu-img's message.
 */
final class AmendCommand extends Verb {
  AmendCommand() {
    super(
        "amend",
        "Change the options of an existing qcow2 image.",
        "FILE",
        1,
        1,
        Opt.value(
            "-o", "OPTIONS", "The options to change, as qemu-img create's -o; may be repeated."),
        Opt.value("-f", "FMT", "The image's format: qcow2."),
        Opt.flag("-q", "Quiet."),
        Opt.flag("-p", "Show progress (accepted; amend is quick)."),
        Opt.flag("--force", "Accepted for qemu-img compatibility."),
        Images.CACHE);
  }

  private static final Set<String> AMENDABLE =
      Set.of("compat", "lazy_refcounts", "refcount_bits", "backing_file", "backing_fmt");

  final List<String> options = new ArrayList<>();
  String format;
  boolean quiet;
  boolean progress;
  boolean force;
  String file;

  @Override
  void set(String key, String value) {
    switch (key) {
      case "-o" -> options.add(value);
      case "-f" -> format = value;
      case "-q" -> quiet = true;
      case "-p" -> progress = true;
      case "-t" -> Images.checkCacheMode(value, false, 1);
      default -> force = true; // --force
    }
  }

  @Override
  void operands(List<String> values) {
    file = values.get(0);
  }

  @Override
  int run() throws IOException {
    if (options.isEmpty()) {
      throw new UsageException("Must specify options (-o)");
    }
    if (format != null && !format.equals("qcow2")) {
      throw new UsageException("only qcow2 images can be amended");
    }
    CreateOptionList opts = CreateOptionList.of("qcow2");
    for (String list : options) {
      try {
        opts.parse(list);
      } catch (IllegalArgumentException e) {
        throw new UsageException(e.getMessage());
      }
    }
    AmendOptions.Builder b = AmendOptions.builder();
    for (String name :
        List.of(
            "size",
            "cluster_size",
            "preallocation",
            "extended_l2",
            "compression_type",
            "data_file",
            "data_file_raw",
            "encryption",
            "encrypt.format")) {
      if (opts.knows(name) && opts.isSet(name) && !AMENDABLE.contains(name)) {
        throw new UsageException(
            "Invalid parameter '" + name + "'\nThis option is only supported for image creation");
      }
    }
    if (opts.isSet("compat")) {
      String compat = opts.string("compat");
      b.version(
          switch (compat) {
            case "0.10", "v2" -> 2;
            case "1.1", "v3" -> 3;
            default -> throw new UsageException("Invalid compatibility level: '" + compat + "'");
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
        // As rebase: the format of the file the name leads to.
        backingFmt = BackingName.probeFormat(Path.of(file), backing);
      }
      b.backingFile(backing, backingFmt);
    }
    Qcow2Image.amend(Path.of(file), b.build());
    return 0;
  }

  private String currentBacking() throws IOException {
    try (Qcow2Image img =
        Qcow2Image.open(
            Path.of(file), dev.qcow2.OpenOptions.builder().openBacking(false).build())) {
      return img.backingFileName();
    }
  }
}
