package dev.qcow2.tools.img;

import dev.qcow2.tools.cli.SizeParser;
import java.math.BigInteger;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * qemu-img create's {@code -o} options for one format, as qemu 7.2's QemuOpts holds them: the
 * comma-separated list is parsed in order (",," is a literal comma, the last value of a name wins),
 * each value is checked against its type, and {@link #formattingLine} prints them in the order and
 * form of qemu's "Formatting" line ({@code qemu_opts_print}).
 */
final class CreateOptionList {
  enum Type {
    STRING("str"),
    BOOL("bool (on/off)"),
    SIZE("size"),
    NUMBER("num");

    final String helpName;

    Type(String helpName) {
      this.helpName = helpName;
    }
  }

  /** One option: qemu's QemuOptDesc. */
  record Desc(String name, Type type, String defaultValue, String help) {}

  private static final Desc SIZE = new Desc("size", Type.SIZE, null, "Virtual disk size");
  private static final Desc PREALLOCATION =
      new Desc(
          "preallocation",
          Type.STRING,
          null,
          "Preallocation mode (allowed values: off, metadata, falloc, full)");

  /** qcow2's options in the order qemu 7.2 prints them in the Formatting line. */
  private static final List<Desc> QCOW2 =
      java.util.stream.Stream.concat(
              EncryptOptions.DESCS.stream(),
              Stream.of(
                  new Desc("cluster_size", Type.SIZE, "65536", "qcow2 cluster size"),
                  new Desc("extended_l2", Type.BOOL, "off", "Extended L2 tables"),
                  PREALLOCATION,
                  new Desc(
                      "compression_type",
                      Type.STRING,
                      "zlib",
                      "Compression method used for image cluster compression"),
                  SIZE,
                  new Desc(
                      "compat", Type.STRING, null, "Compatibility level (v2 [0.10] or v3 [1.1])"),
                  new Desc("backing_file", Type.STRING, null, "File name of a base image"),
                  new Desc("backing_fmt", Type.STRING, null, "Image format of the base image"),
                  new Desc("data_file", Type.STRING, null, "File name of an external data file"),
                  new Desc(
                      "data_file_raw",
                      Type.BOOL,
                      null,
                      "The external data file must stay valid as a raw image"),
                  new Desc("lazy_refcounts", Type.BOOL, "off", "Postpone refcount updates"),
                  new Desc(
                      "refcount_bits",
                      Type.NUMBER,
                      "16",
                      "Width of a reference count entry in bits")))
          .toList();

  /** raw's own option and the file protocol's preallocation. */
  private static final List<Desc> RAW = List.of(SIZE, PREALLOCATION);

  /** Options qemu knows that we do not implement: refused by name rather than as unknown. */
  private static final List<String> UNSUPPORTED =
      List.of("encryption", "nocow", "extent_size_hint");

  private final String format;
  private final List<Desc> descs;
  private final Map<String, String> strings = new HashMap<>();
  private final Map<String, Long> numbers = new HashMap<>();

  private CreateOptionList(String format, List<Desc> descs) {
    this.format = format;
    this.descs = descs;
  }

  /** The options of {@code format} (qcow2 or raw), or null for a format we cannot create. */
  static CreateOptionList of(String format) {
    return switch (format) {
      case "qcow2" -> new CreateOptionList(format, QCOW2);
      case "raw" -> new CreateOptionList(format, RAW);
      default -> null;
    };
  }

  /** qemu's has_help_option: "help" or "?" as one of the list's items. */
  static boolean asksForHelp(String list) {
    for (String item : split(list)) {
      if (item.equals("help") || item.equals("?")) {
        return true;
      }
    }
    return false;
  }

  /** What {@code -o help} prints: the options sorted by name, as qemu_opts_print_help does. */
  String help() {
    StringBuilder sb = new StringBuilder("Supported " + format + " options:\n");
    // raw's preallocation belongs to the file protocol, which qemu lists only with a file name.
    descs.stream()
        .filter(d -> format.equals("qcow2") || d == SIZE)
        .sorted(Comparator.comparing(Desc::name))
        .forEach(
            d -> {
              StringBuilder line =
                  new StringBuilder("  " + d.name() + "=<" + d.type().helpName + ">");
              while (line.length() < 24) {
                line.append(' ');
              }
              sb.append(line).append(" - ").append(d.help()).append('\n');
            });
    sb.append(
        "\nThe protocol level may support further options.\n"
            + "Specify the target filename to include those options.\n");
    return sb.toString();
  }

  /**
   * Parses one comma-separated list, as qemu_opts_do_parse: stops at the first bad item.
   *
   * @throws IllegalArgumentException with qemu's message (without the file name)
   */
  void parse(String list) {
    for (String item : split(list)) {
      int eq = item.indexOf('=');
      String name = eq < 0 ? item : item.substring(0, eq);
      String value = eq < 0 ? "on" : item.substring(eq + 1);
      Desc d = find(name);
      if (d == null) {
        if (UNSUPPORTED.contains(name) || name.startsWith("encrypt.")) {
          throw new IllegalArgumentException(
              "option '" + name + "' is not supported by qcow2 create");
        }
        throw new IllegalArgumentException("Invalid parameter '" + name + "'");
      }
      set(d, value);
    }
  }

  /** Sets {@code name} as qemu_opt_set does (e.g. -b, -F, or the size argument). */
  void set(String name, String value) {
    set(find(name), value);
  }

  /** Sets a size or number option as qemu_opt_set_number does. */
  void setNumber(String name, long value) {
    strings.put(name, Long.toUnsignedString(value));
    numbers.put(name, value);
  }

  boolean knows(String name) {
    return find(name) != null;
  }

  boolean isSet(String name) {
    return strings.containsKey(name);
  }

  /** The option's text as given, else its default, else null. */
  String string(String name) {
    String v = strings.get(name);
    return v != null ? v : find(name).defaultValue();
  }

  /** A size or number option's value, else its default, else {@code orElse}. */
  long number(String name, long orElse) {
    Long v = numbers.get(name);
    if (v != null) {
      return v;
    }
    String def = find(name).defaultValue();
    return def != null ? Long.parseLong(def) : orElse;
  }

  /** A boolean option: qemu's on/yes/true/y and off/no/false/n, else its default. */
  boolean bool(String name) {
    return isOn(string(name));
  }

  /** qemu's "Formatting 'FILE', fmt=FMT ..." line, with its trailing newline. */
  String formattingLine(String file) {
    StringBuilder sb = new StringBuilder("Formatting '" + file + "', fmt=" + format + " ");
    String sep = "";
    for (Desc d : descs) {
      String given = strings.get(d.name());
      String value = given != null ? given : d.defaultValue();
      if (value == null) {
        continue;
      }
      sb.append(sep).append(d.name()).append('=');
      if (d.type() == Type.STRING) {
        sb.append(value.replace(",", ",,"));
      } else if ((d.type() == Type.SIZE || d.type() == Type.NUMBER) && given != null) {
        sb.append(numbers.get(d.name())); // PRId64 of the parsed value
      } else {
        sb.append(value);
      }
      sep = " ";
    }
    return sb.append('\n').toString();
  }

  private Desc find(String name) {
    for (Desc d : descs) {
      if (d.name().equals(name)) {
        return d;
      }
    }
    return null;
  }

  private void set(Desc d, String value) {
    switch (d.type()) {
      case BOOL -> {
        if (!isOn(value) && !isOff(value)) {
          throw new IllegalArgumentException("Parameter '" + d.name() + "' expects 'on' or 'off'");
        }
      }
      case SIZE -> {
        try {
          numbers.put(d.name(), SizeParser.strtosz(value));
        } catch (SizeParser.InvalidSizeException e) {
          throw new IllegalArgumentException(
              "Parameter '"
                  + d.name()
                  + "' expects a non-negative number below 2^64\n"
                  + "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
                  + "and exabytes, respectively.");
        }
      }
      case NUMBER -> numbers.put(d.name(), parseNumber(d.name(), value));
      case STRING -> {}
    }
    strings.put(d.name(), value);
  }

  /** qemu_strtou64 with base 0: decimal, 0x hex or 0 octal, the whole text. */
  private static long parseNumber(String name, String value) {
    String s = value.strip();
    if (s.startsWith("+")) {
      s = s.substring(1);
    }
    int radix = 10;
    if (s.length() > 1 && s.charAt(0) == '0' && (s.charAt(1) == 'x' || s.charAt(1) == 'X')) {
      radix = 16;
      s = s.substring(2);
    } else if (s.length() > 1 && s.charAt(0) == '0') {
      radix = 8;
      s = s.substring(1);
    }
    try {
      BigInteger v = new BigInteger(s, radix);
      if (v.signum() >= 0 && v.bitLength() <= 64) {
        return v.longValue();
      }
    } catch (NumberFormatException e) {
      // the message below
    }
    throw new IllegalArgumentException("Parameter '" + name + "' expects a number");
  }

  private static boolean isOn(String v) {
    return v.equals("on") || v.equals("yes") || v.equals("true") || v.equals("y");
  }

  private static boolean isOff(String v) {
    return v.equals("off") || v.equals("no") || v.equals("false") || v.equals("n");
  }

  /** Splits at single commas, as qemu's option lists; ",," stands for one literal comma. */
  static List<String> split(String list) {
    List<String> items = new java.util.ArrayList<>();
    StringBuilder item = new StringBuilder();
    for (int i = 0; i < list.length(); i++) {
      char c = list.charAt(i);
      if (c == ',') {
        if (i + 1 < list.length() && list.charAt(i + 1) == ',') {
          item.append(',');
          i++;
          continue;
        }
        items.add(item.toString());
        item.setLength(0);
      } else {
        item.append(c);
      }
    }
    items.add(item.toString());
    items.removeIf(String::isEmpty);
    return items;
  }
}
