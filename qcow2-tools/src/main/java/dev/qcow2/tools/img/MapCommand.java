package dev.qcow2.tools.img;

import dev.qcow2.BlockStatus;
import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;

/**
 * {@code qcow2 map}: where the guest bytes live, as qemu-img's {@code map} prints it (its {@code
 * img_map}, {@code entry_mergeable} and {@code dump_map_entry}, whose JSON is hand-made). The JSON
 * carries qemu 8.2's {@code "compressed"} field, after {@code "data"} on every entry, and runs
 * split where it changes; the human form is 7.2's, which 8.2 left as it was.
 */
final class MapCommand extends Verb {
  MapCommand() {
    super(
        "map",
        "Show where the guest bytes are stored (as qemu-img map).",
        "FILE",
        1,
        1,
        ReportOptions.OUTPUT,
        ReportOptions.FORCE_SHARE,
        Opt.value("-s,--start-offset", "N", "First guest byte to map."),
        Opt.value("-l,--max-length", "N", "Map at most N bytes."),
        Opt.value("-f", "FMT", "Image format: qcow2 or raw (default: detect)."),
        Secrets.OBJECT,
        Secrets.IMAGE_OPTS);
  }

  /** Taken as qemu-img map takes them: an encrypted image opens only with its secret. */
  final Secrets secrets = new Secrets();

  final ReportOptions report = new ReportOptions();
  long startOffset;
  Long maxLength;
  String format;
  String file;

  /** qemu's MapEntry; {@code file} is null when the run has no host offset. */
  private static final class Entry {
    long start;
    long length;
    int depth;
    boolean present;
    boolean zero;
    boolean data;
    boolean compressed;
    long offset = -1;
    String file;

    static Entry of(BlockStatus s) {
      Entry e = new Entry();
      e.start = s.start();
      e.length = s.length();
      e.depth = s.depth();
      e.present = s.present();
      e.zero = s.zero();
      e.data = s.data();
      e.compressed = s.compressed();
      if (s.hasHostOffset()) {
        e.offset = s.hostOffset();
        e.file = s.file();
      }
      return e;
    }

    boolean mergeable(Entry next) {
      if (length == 0
          || zero != next.zero
          || data != next.data
          || compressed != next.compressed
          || depth != next.depth
          || present != next.present
          || (offset >= 0) != (next.offset >= 0)) {
        return false;
      }
      return offset < 0 || (file.equals(next.file) && offset + length == next.offset);
    }
  }

  @Override
  void set(String key, String value) {
    if (!report.set(key, value)) {
      switch (key) {
        case "-s" -> startOffset = Images.size("--start-offset", value);
        case "-l" -> maxLength = Images.size("--max-length", value);
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
    boolean json = report.json();
    Secrets.ImageSpec spec = secrets.spec(file, format);
    file = spec.file();
    DiskImage opened;
    try {
      opened = secrets.open(spec, OpenOptions.defaults());
    } finally {
      secrets.wipe();
    }
    try (DiskImage image = opened) {
      Secrets.requireKey(image, spec);
      boolean encrypted = image.info().encryptFormat() != null;
      long length = image.size();
      if (maxLength != null) {
        length = Math.min(startOffset + maxLength, length);
      }
      out.print(
          json
              ? "["
              : String.format(
                  Locale.ROOT, "%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File"));
      Entry curr = new Entry();
      curr.start = startOffset;
      while (curr.start + curr.length < length) {
        long at = curr.start + curr.length;
        Entry next = Entry.of(image.blockStatus(at, length - at));
        if (encrypted) {
          // qemu gives no host offset for encrypted clusters: their bytes there are not the
          // guest's. The human form then stops, as for compressed ones.
          next.offset = -1;
          next.file = null;
        }
        if (curr.mergeable(next)) {
          curr.length += next.length;
          continue;
        }
        if (curr.length > 0) {
          dump(out, json, curr, next);
        }
        curr = next;
      }
      dump(out, json, curr, null);
      if (json) {
        out.print("]\n");
      }
    } finally {
      out.flush();
    }
    return 0;
  }

  private static void dump(PrintWriter out, boolean json, Entry e, Entry next) {
    if (!json) {
      if (e.data && e.offset < 0) {
        out.flush();
        throw new IllegalStateException(
            "File contains external, encrypted or compressed clusters.");
      }
      if (e.data && !e.zero) {
        out.print(
            hex16(e.start)
                + hex16(e.length)
                + hex16(Math.max(e.offset, 0))
                + (e.file != null ? e.file : "")
                + "\n");
      }
      // The human form does not tell zero from unallocated, so qemu folds them to merge more.
      if (next != null && (!next.data || next.zero)) {
        next.data = false;
        next.zero = true;
      }
      return;
    }
    StringBuilder sb = new StringBuilder();
    sb.append("{ \"start\": ")
        .append(e.start)
        .append(", \"length\": ")
        .append(e.length)
        .append(", \"depth\": ")
        .append(e.depth)
        .append(", \"present\": ")
        .append(e.present)
        .append(", \"zero\": ")
        .append(e.zero)
        .append(", \"data\": ")
        .append(e.data)
        .append(", \"compressed\": ")
        .append(e.compressed);
    if (e.offset >= 0) {
      sb.append(", \"offset\": ").append(e.offset);
    }
    sb.append('}');
    if (next != null) {
      sb.append(",\n");
    }
    out.print(sb);
  }

  /** C's {@code %#-16" PRIx64}: "0x" prefix except for zero, left-aligned in 16 columns. */
  private static String hex16(long v) {
    String s = v == 0 ? "0" : "0x" + Long.toHexString(v);
    return String.format(Locale.ROOT, "%-16s", s);
  }
}
