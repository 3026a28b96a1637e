package dev.qcow2.tools.img;

import dev.qcow2.tools.img.Verb.Opt;

/**
 * The options the reporting verbs (info, map, check, measure) share with qemu-img: --output and -U.
 */
final class ReportOptions {
  static final Opt OUTPUT = Opt.value("--output", "human|json", "Output format (default: human).");
  static final Opt FORCE_SHARE =
      Opt.flag("-U,--force-share", "Accepted for qemu-img compatibility; images are never locked.");

  String output = "human";
  boolean forceShare;

  /** Takes {@code --output} or {@code -U}; false for any other option. */
  boolean set(String key, String value) {
    switch (key) {
      case "--output" -> output = value;
      case "-U" -> forceShare = true;
      default -> {
        return false;
      }
    }
    return true;
  }

  /** Whether JSON was asked for; any other value than human or json is refused as qemu-img does. */
  boolean json() {
    return Images.checkOutput(output).equals("json");
  }
}
