package dev.qcow2.tools.img;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.convert.ImageMeasurer;
import dev.qcow2.convert.ImageMeasurer.Measurement;
import dev.qcow2.tools.JsonOutput;
import dev.qcow2.tools.SizeParser;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code qcow2 measure [--output=human|json] [-O FMT] [-o OPTIONS] (--size N | [-f FMT] FILE)}:
 * the size a new image would need, with qemu-img measure's fields and numbers.
 */
@Command(name = "measure", description = "Measure the size a new image needs.")
final class MeasureCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin ReportOptions report;

  @Option(names = "-O", paramLabel = "FMT", defaultValue = "raw", description = "Target format (default raw).")
  String outputFormat;

  @Option(names = "-o", paramLabel = "OPTIONS", description = "Create options of the target.")
  List<String> createOptions = new ArrayList<>();

  @Option(names = "-f", paramLabel = "FMT", description = "Source format (default: detect).")
  String format;

  @Option(names = "--size", paramLabel = "N", description = "Measure a new disk of this size.")
  String size;

  @Parameters(arity = "0..1", paramLabel = "FILE")
  String file;

  @Override
  public Integer call() throws IOException {
    boolean json = report.json(spec.commandLine());
    if (size == null && file == null) {
      throw new ParameterException(spec.commandLine(), "Either --size N or one filename must be specified.");
    }
    if (size != null && file != null) {
      throw new ParameterException(spec.commandLine(), "--size N cannot be used together with a filename.");
    }
    if (!outputFormat.equals("raw") && !outputFormat.equals("qcow2")) {
      throw new ParameterException(spec.commandLine(), "only -O raw and -O qcow2 can be measured");
    }
    long bytes = 0;
    if (size != null) {
      try {
        bytes = SizeParser.parse(size);
      } catch (IllegalArgumentException e) {
        throw new ParameterException(spec.commandLine(), "Invalid image size specified. You may use k, M, G, T, P or E suffixes for");
      }
    }
    Measurement m;
    try (DiskImage source = file == null ? null : Images.open(file, format, OpenOptions.defaults())) {
      if (outputFormat.equals("raw")) {
        m = ImageMeasurer.raw(source, bytes);
      } else {
        CreateOptionList opts = CreateOptionList.of("qcow2");
        for (String list : createOptions) {
          opts.parse(list);
        }
        long s = source != null ? source.size() : bytes;
        CreateOptions options = CreateCommand.qcow2Options(file == null ? "" : file, opts, (s + 511) & ~511L);
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
    spec.commandLine().getOut().print(sb);
    spec.commandLine().getOut().flush();
    return 0;
  }
}
