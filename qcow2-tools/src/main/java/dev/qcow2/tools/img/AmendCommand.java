package dev.qcow2.tools.img;

import dev.qcow2.AmendOptions;
import dev.qcow2.BackingName;
import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.crypto.LuksAmendOptions;
import dev.qcow2.crypto.LuksException;
import dev.qcow2.tools.cli.UsageException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * {@code qcow2 amend [--object secret,...] [--image-opts] -o OPTIONS [-f qcow2] [-q] [--force]
 * FILE}: qemu-img amend's qcow2 options compat, lazy_refcounts, refcount_bits, backing_file and
 * backing_fmt, and the LUKS key slot options encrypt.state, encrypt.keyslot, encrypt.old-secret,
 * encrypt.new-secret and encrypt.iter-time (the image's passphrase named by {@code
 * encrypt.key-secret} under --image-opts); creation-only options are refused with qemu-img's
 * message.
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
        Opt.flag(
            "--force",
            "Let a key slot change overwrite an active slot or erase the last one (data lost)."),
        Images.CACHE,
        Secrets.OBJECT,
        Secrets.IMAGE_OPTS);
  }

  private static final Set<String> AMENDABLE =
      Set.of("compat", "lazy_refcounts", "refcount_bits", "backing_file", "backing_fmt");

  /** The --object secrets: the image's passphrase and the key slot options' secrets. */
  final Secrets secrets = new Secrets();

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
      case "--object" -> secrets.object(value);
      case "--image-opts" -> secrets.imageOpts = true;
      default -> force = true; // --force
    }
  }

  @Override
  void operands(List<String> values) {
    file = values.get(0);
  }

  @Override
  int run() throws IOException {
    LuksAmendOptions keySlots = null;
    try {
      if (options.isEmpty()) {
        throw new UsageException("Must specify options (-o)");
      }
      Secrets.ImageSpec spec = secrets.spec(file, format);
      if (spec.format() != null && !spec.format().equals("qcow2")) {
        throw new UsageException("only qcow2 images can be amended");
      }
      // qemu-img opens the image before it reads -o: an encrypted one without its secret is
      // refused first, whatever the options.
      try (DiskImage image =
          Images.open(
              spec.file(), spec.format(), OpenOptions.builder().openBacking(false).build())) {
        Secrets.requireKey(image, spec);
      }
      CreateOptionList opts = CreateOptionList.of("qcow2");
      KeySlotOptions slots = new KeySlotOptions();
      parse(opts, slots);
      AmendOptions.Builder b = AmendOptions.builder().force(force);
      amendOptions(opts, b, spec.file());
      if (slots.any(opts)) {
        keySlots = slots.build(secrets, opts);
        b.keySlots(keySlots);
      }
      if (spec.keySecret() != null) {
        byte[] key = passphrase(spec.keySecret());
        b.encryptionKey(key);
        Arrays.fill(key, (byte) 0);
      }
      Qcow2Image.amend(Path.of(spec.file()), b.build());
      return 0;
    } catch (LuksException e) {
      if (e.kind() != LuksException.Kind.INVALID_PASSWORD) {
        throw e;
      }
      throw new IOException("Could not open '" + file + "': " + e.getMessage(), e);
    } finally {
      secrets.wipe();
      if (keySlots != null) {
        keySlots.destroy();
      }
    }
  }

  /** The -o lists in order, as qemu_opts_do_parse: the first bad item fails. */
  private void parse(CreateOptionList opts, KeySlotOptions slots) {
    for (String list : options) {
      for (String item : CreateOptionList.split(list)) {
        int eq = item.indexOf('=');
        String name = eq < 0 ? item : item.substring(0, eq);
        try {
          if (KeySlotOptions.NAMES.contains(name)) {
            slots.take(name, eq < 0 ? "on" : item.substring(eq + 1));
          } else {
            opts.parse(item.replace(",", ",,"));
          }
        } catch (IllegalArgumentException e) {
          throw new UsageException(e.getMessage());
        }
      }
    }
  }

  /** The image's passphrase; a missing secret fails the open, in qemu's words. */
  private byte[] passphrase(String id) {
    try {
      return secrets.get(id);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("Could not open '" + file + "': " + e.getMessage(), e);
    }
  }

  private void amendOptions(CreateOptionList opts, AmendOptions.Builder b, String image)
      throws IOException {
    List<String> creationOnly =
        Stream.concat(
                Stream.of(
                    "size",
                    "cluster_size",
                    "preallocation",
                    "extended_l2",
                    "compression_type",
                    "data_file",
                    "data_file_raw",
                    "encryption"),
                EncryptOptions.DESCS.stream()
                    .map(CreateOptionList.Desc::name)
                    .filter(n -> !n.equals("encrypt.iter-time")))
            .toList();
    for (String name : creationOnly) {
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
      String backing =
          opts.isSet("backing_file") ? opts.string("backing_file") : currentBacking(image);
      String backingFmt = opts.isSet("backing_fmt") ? opts.string("backing_fmt") : null;
      if (backingFmt == null && backing != null && !backing.isEmpty()) {
        // As rebase: the format of the file the name leads to.
        backingFmt = BackingName.probeFormat(Path.of(image), backing);
      }
      b.backingFile(backing, backingFmt);
    }
  }

  private static String currentBacking(String image) throws IOException {
    try (Qcow2Image img =
        Qcow2Image.open(
            Path.of(image), dev.qcow2.OpenOptions.builder().openBacking(false).build())) {
      return img.backingFileName();
    }
  }
}
