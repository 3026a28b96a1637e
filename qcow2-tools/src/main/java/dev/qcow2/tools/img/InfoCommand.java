package dev.qcow2.tools.img;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.qcow2.DiskImage;
import dev.qcow2.ImageInfo;
import dev.qcow2.OpenOptions;
import dev.qcow2.tools.cli.JsonOutput;
import java.io.IOException;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** {@code qcow2 info}: what qemu-img info prints, in its human or JSON form. */
final class InfoCommand extends Verb {
  InfoCommand() {
    super(
        "info",
        "Show facts about an image (as qemu-img info).",
        "FILE",
        1,
        1,
        ReportOptions.OUTPUT,
        ReportOptions.FORCE_SHARE,
        Opt.flag("--backing-chain", "Also show every image of the backing chain."),
        Opt.value("-f", "FMT", "Image format: qcow2 or raw (default: detect)."),
        Secrets.OBJECT,
        Secrets.IMAGE_OPTS);
  }

  /** Taken as qemu-img info takes them; the LUKS header shows without the passphrase. */
  final Secrets secrets = new Secrets();

  final ReportOptions report = new ReportOptions();
  boolean backingChain;
  String format;
  String file;

  @Override
  void set(String key, String value) {
    if (!report.set(key, value)) {
      switch (key) {
        case "--backing-chain" -> backingChain = true;
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
    Secrets.ImageSpec spec = secrets.spec(file, format);
    file = spec.file();
    format = spec.format();
    secrets.wipe();
    boolean json = report.json();
    List<ImageInfo> chain = collect();
    if (json) {
      if (backingChain) {
        ArrayNode list = JsonNodeFactory.instance.arrayNode();
        chain.forEach(i -> list.add(ImageInfoJson.of(i)));
        out.print(JsonOutput.pretty(list) + "\n");
      } else {
        out.print(JsonOutput.pretty(ImageInfoJson.of(chain.get(0))) + "\n");
      }
    } else {
      String sep = "";
      for (ImageInfo info : chain) {
        out.print(sep + ImageInfoText.of(info, ZoneId.systemDefault()));
        sep = "\n";
      }
    }
    out.flush();
    return 0;
  }

  /**
   * As qemu-img's collect_image_info_list: each image is opened alone (backing files are not
   * followed), and with --backing-chain the next one is its full backing file name in the format
   * its header names.
   */
  private List<ImageInfo> collect() throws IOException {
    OpenOptions alone = OpenOptions.builder().openBacking(false).build();
    List<ImageInfo> chain = new ArrayList<>();
    if (backingChain && Images.isRemote(file)) {
      // The library opens a remote chain under its rules (backing files in the image's folder);
      // opening each full backing name here would bypass them.
      try (DiskImage top = Images.open(file, format, OpenOptions.defaults())) {
        for (DiskImage image = top; image != null; image = image.backing()) {
          chain.add(image.info());
        }
      }
      return chain;
    }
    Set<String> seen = new HashSet<>();
    String name = file;
    String fmt = format;
    while (name != null) {
      if (!seen.add(name)) {
        throw new IllegalStateException("Backing file '" + name + "' creates an infinite loop.");
      }
      ImageInfo info;
      try (DiskImage image = Images.open(name, fmt, alone)) {
        info = image.info();
      }
      chain.add(info);
      if (!backingChain) {
        break;
      }
      String stored = info.backingFilename();
      if (stored != null) {
        int colon = stored.indexOf(':');
        int slash = stored.indexOf('/');
        if (stored.startsWith("json:") || (colon >= 0 && (slash < 0 || colon < slash))) {
          // As the library: protocol and JSON pseudo-file names are never followed.
          throw new IllegalArgumentException(
              name
                  + ": backing file name \""
                  + stored
                  + "\" is a protocol or JSON pseudo-file name, which is never followed");
        }
      }
      name = info.fullBackingFilename();
      fmt = info.backingFormat();
    }
    return chain;
  }
}
