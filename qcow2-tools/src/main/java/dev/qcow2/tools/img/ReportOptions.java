package dev.qcow2.tools.img;

import picocli.CommandLine;
import picocli.CommandLine.Option;

/** The options the reporting verbs (info, map, check) share with qemu-img: --output and -U. */
final class ReportOptions {
  @Option(names = "--output", paramLabel = "human|json", defaultValue = "human",
      description = "Output format (default: human).")
  String output;

  @Option(names = {"-U", "--force-share"},
      description = "Accepted for qemu-img compatibility; images are never locked.")
  boolean forceShare;

  /** Whether JSON was asked for; any other value than human or json is refused as qemu-img does. */
  boolean json(CommandLine cmd) {
    return Images.checkOutput(cmd, output).equals("json");
  }
}
