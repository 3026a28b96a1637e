package dev.qcow2.tools.img;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.convert.ImageMeasurer;
import dev.qcow2.convert.ImageMeasurer.Measurement;
import dev.qcow2.tools.cli.JsonOutput;
import dev.qcow2.tools.cli.SizeParser;
import dev.qcow2.tools.cli.UsageException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code qcow2 measure [--output=human|json] [-O FMT] [-o OPTIONS] (--size N | [-f FMT] FILE)}: the
 * size a new image would need, with qemu-img measure's fields and numbers.
 */
final class MeasureCommand extends Verb {
  MeasureCommand() {
    super(
        "measure",
        "Measure the size a new image needs.",
        "[FILE]",
        0,
        1,
        ReportOptions.OUTPUT,
        ReportOptions.FORCE_SHARE,
        Opt.value("-O", "FMT", "Target format (default raw)."),
        Opt.value("-o", "OPTIONS", "Create options of the target; may be repeated."),
        Opt.value("-f", "FMT", "Source format (default: detect)."),
        Opt.value("--size", "N", "Measure a new disk of this size."));
  }

  final ReportOptions report = new ReportOptions();
  String outputFormat = "raw";
  final List<String> createOptions = new ArrayList<>();
  String format;
  String size;
  String file;

  @Override
  void set(String key, String value) {
    if (!report.set(key, value)) {
      switch (key) {
        case "-O" -> outputFormat = value;
        case "-o" -> createOptions.add(value);
        case "-f" -> format = value;
        default -> size = value; // --size
      }
    }
  }

  @Override
  void operands(List<String> values) {
    file = values.isEmpty() ? null : values.get(0);
  }

  @Override
  int run() throws IOException {
    boolean json = report.json();
    if (size == null && file == null) {
      throw new UsageException("Either --size N or one filename must be specified.");
    }
    if (size != null && file != null) {
      throw new UsageException("--size N cannot be used together with a filename.");
    }
    if (!outputFormat.equals("raw") && !outputFormat.equals("qcow2")) {
      throw new UsageException("only -O raw and -O qcow2 can be measured");
    }
    long bytes = 0;
    if (size != null) {
      try {
        bytes = SizeParser.parseSigned(size);
      } catch (SizeParser.InvalidSizeException e) {
        throw Images.invalidImageSize(e);
      }
    }
    Measurement m;
    try (DiskImage source =
        file == null ? null : Images.open(file, format, OpenOptions.defaults())) {
      if (outputFormat.equals("raw")) {
        m = ImageMeasurer.raw(source, bytes);
      } else {
        CreateOptionList opts = CreateOptionList.of("qcow2");
        for (String list : createOptions) {
          opts.parse(list);
        }
        long s = source != null ? source.size() : bytes;
        CreateOptions options =
            CreateCommand.qcow2Options(file == null ? "" : file, opts, (s + 511) & ~511L);
        m = ImageMeasurer.qcow2(options, source);
      }
    }
    StringBuilder sb = new StringBuilder();
    if (json) {
      ObjectNode o = JsonOutput.object();
      if (m.bitmaps() >= 0) {
        o.put("bitmaps", m.bitmaps());
      }
      o.put("required", m.required());
      o.put("fully-allocated", m.fullyAllocated());
      sb.append(JsonOutput.pretty(o)).append('\n');
    } else {
      sb.append("required size: ").append(m.required()).append('\n');
      sb.append("fully allocated size: ").append(m.fullyAllocated()).append('\n');
      if (m.bitmaps() >= 0) {
        sb.append("bitmaps size: ").append(m.bitmaps()).append('\n');
      }
    }
    out.print(sb);
    out.flush();
    return 0;
  }
}
