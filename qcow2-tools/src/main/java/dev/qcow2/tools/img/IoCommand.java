package dev.qcow2.tools.img;

import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.tools.cli.ErrorLine;
import dev.qcow2.tools.cli.SizeParser;
import dev.qcow2.tools.cli.UsageException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code qcow2 io}: qemu-io's {@code read}, {@code write}, {@code discard} and {@code flush}
 * commands, printing what qemu-io 7.2 prints. As qemu-io, every command runs even after one fails;
 * each failure is one line on the error stream, and the exit code is then 1 (a pattern mismatch
 * too). The image is opened writable only if a command writes.
 */
final class IoCommand extends Verb {
  IoCommand() {
    super(
        "io",
        "Run qemu-io commands (read, write, discard, flush) on an image.",
        "FILE",
        1,
        1,
        Opt.value("-f", "FMT", "Image format: qcow2 or raw (default: detect)."),
        Opt.value("-c", "CMD", "A qemu-io command; may be repeated."),
        Opt.flag("-r,--read-only", "Open the image read-only."),
        Secrets.OBJECT,
        Secrets.IMAGE_OPTS);
  }

  final Secrets secrets = new Secrets();

  /** qemu's BDRV_REQUEST_MAX_BYTES: the largest request qemu-io accepts. */
  private static final long REQUEST_MAX_BYTES = 2147483136L;

  private static final int CHUNK = 1 << 20;
  private static final List<String> WRITING = List.of("write", "w", "discard", "d");

  String format;
  final List<String> commands = new ArrayList<>();
  boolean readOnly;
  String file;

  /** One command's failure: printed, and the run goes on. */
  private static final class Failure extends RuntimeException {
    Failure(String message) {
      super(message, null, false, false);
    }
  }

  @Override
  void set(String key, String value) {
    switch (key) {
      case "-f" -> format = value;
      case "-c" -> commands.add(value);
      case "--object" -> secrets.object(value);
      case "--image-opts" -> secrets.imageOpts = true;
      default -> readOnly = true; // -r
    }
  }

  @Override
  void operands(List<String> values) {
    file = values.get(0);
  }

  @Override
  int run() throws IOException {
    if (commands.isEmpty()) {
      throw new UsageException("no command given: use -c CMD");
    }
    boolean writable =
        !readOnly
            && commands.stream()
                .map(c -> words(c).isEmpty() ? "" : words(c).get(0))
                .anyMatch(WRITING::contains);
    OpenOptions options = OpenOptions.builder().writable(writable).build();
    DiskImage image;
    try {
      image = secrets.open(secrets.spec(file, format), options);
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException(
          "can't open device " + file + ": " + ErrorLine.describe(e));
    }
    boolean failed = false;
    try (image) {
      for (String command : commands) {
        try {
          run(image, words(command), out);
        } catch (Failure f) {
          out.flush();
          err.print("qcow2: " + f.getMessage() + "\n");
          err.flush();
          failed = true;
        }
      }
    } finally {
      out.flush();
    }
    return failed ? 1 : 0;
  }

  /** qemu-io's breakline: words separated by spaces, empty ones skipped. */
  private static List<String> words(String command) {
    List<String> w = new ArrayList<>(Arrays.asList(command.trim().split("\\s+")));
    w.removeIf(String::isEmpty);
    return w;
  }

  private void run(DiskImage image, List<String> argv, PrintWriter out) {
    if (argv.isEmpty()) {
      return;
    }
    String name = argv.get(0);
    try {
      switch (name) {
        case "read", "r" -> read(image, argv, out);
        case "write", "w" -> write(image, argv, out);
        case "discard", "d" -> discard(image, argv, out);
        case "flush", "f" -> {
          argCount(argv, 0, 0);
          if (image instanceof Qcow2Image q && q.isWritable()) {
            q.flush();
          }
        }
        default -> throw new Failure("command \"" + name + "\" not found");
      }
    } catch (IOException
        | IllegalArgumentException
        | IllegalStateException
        | UnsupportedOperationException e) {
      String op =
          name.startsWith("r")
              ? "read"
              : name.startsWith("w") ? "write" : name.startsWith("d") ? "discard" : "flush";
      throw new Failure(op + " failed: " + ErrorLine.describe(e));
    }
  }

  /** {@code read [-qv] [-P pattern [-s off] [-l len]] off len}. */
  private void read(DiskImage image, List<String> argv, PrintWriter out) throws IOException {
    argCount(argv, 2, -1);
    Getopt g = new Getopt(argv, "qvP:s:l:", "read [-qv] [-P pattern [-s off] [-l len]] off len");
    Integer pattern = null;
    long patternOffset = 0;
    Long patternCount = null;
    boolean quiet = false;
    boolean verbose = false;
    for (char c; (c = g.next()) != 0; ) {
      switch (c) {
        case 'q' -> quiet = true;
        case 'v' -> verbose = true;
        case 'P' -> pattern = parsePattern(g.arg);
        case 's' -> patternOffset = number(g.arg);
        case 'l' -> patternCount = number(g.arg);
        default -> throw g.usage();
      }
    }
    if (pattern == null && (patternCount != null || patternOffset != 0)) {
      throw g.usage();
    }
    List<String> rest = g.rest(2);
    long offset = number(rest.get(0));
    long count = length(rest.get(1));
    long pCount = patternCount != null ? patternCount : count - patternOffset;
    if (pCount < 0 || pCount + patternOffset > count) {
      throw new Failure("pattern verification range exceeds end of read data");
    }
    checkRange(image, "read", offset, count);
    long started = System.nanoTime();
    ByteBuffer buf = ByteBuffer.allocate((int) Math.min(CHUNK, Math.max(count, 1)));
    StringBuilder dump = verbose ? new StringBuilder() : null;
    boolean mismatch = false;
    long pFrom = offset + patternOffset;
    long pTo = pFrom + pCount;
    for (long at = offset; at < offset + count; at += buf.limit()) {
      buf.clear().limit((int) Math.min(buf.capacity(), offset + count - at));
      image.readFully(buf, at);
      buf.flip();
      if (pattern != null && !mismatch) {
        for (long p = Math.max(at, pFrom); p < Math.min(at + buf.limit(), pTo); p++) {
          if ((buf.get((int) (p - at)) & 0xff) != pattern) {
            mismatch = true;
            break;
          }
        }
      }
      if (dump != null) {
        dump.append(IoReport.hexdump(buf, at));
      }
    }
    long nanos = System.nanoTime() - started;
    if (mismatch) {
      out.print("Pattern verification failed at offset " + pFrom + ", " + pCount + " bytes\n");
    }
    if (!quiet) {
      if (dump != null) {
        out.print(dump);
      }
      out.print(IoReport.report("read", offset, count, count, nanos));
    }
    if (mismatch) {
      throw new Failure(
          "read -P " + pattern + " found other bytes in [" + pFrom + ", " + pTo + ")");
    }
  }

  /** {@code write [-cqzu] [-P pattern] off len}; without -P the bytes are 0xcd, as qemu-io's. */
  private void write(DiskImage image, List<String> argv, PrintWriter out) throws IOException {
    argCount(argv, 2, -1);
    Getopt g = new Getopt(argv, "cfnquzP:", "write [-cqzu] [-P pattern] off len");
    int pattern = 0xcd;
    boolean patternGiven = false;
    boolean compressed = false;
    boolean zero = false;
    boolean unmap = false;
    boolean quiet = false;
    for (char c; (c = g.next()) != 0; ) {
      switch (c) {
        case 'c' -> compressed = true;
        case 'f', 'n' -> {} // FUA and no-cache: every write reaches the file at close anyway
        case 'q' -> quiet = true;
        case 'u' -> unmap = true;
        case 'z' -> zero = true;
        case 'P' -> {
          pattern = parsePattern(g.arg);
          patternGiven = true;
        }
        default -> throw g.usage();
      }
    }
    if (unmap && !zero) {
      throw new Failure("-u requires -z to be specified");
    }
    if (zero && patternGiven) {
      throw new Failure("Only one of -z, -P, and -s can be specified at the same time");
    }
    List<String> rest = g.rest(2);
    long offset = number(rest.get(0));
    long count = zero ? number(rest.get(1)) : length(rest.get(1));
    if (compressed && offset % 512 != 0) {
      throw new Failure(offset + " is not a sector-aligned value for 'offset'");
    }
    if (compressed && count % 512 != 0) {
      throw new Failure(count + " is not a sector-aligned value for 'count'");
    }
    Qcow2Image q = writable(image, "write");
    checkRange(image, "write", offset, count);
    long started = System.nanoTime();
    if (zero) {
      q.writeZeroes(offset, count);
    } else if (compressed) {
      int cs = q.clusterSize();
      if (offset % cs != 0 || (count % cs != 0 && offset + count != q.size())) {
        throw new Failure(
            "write failed: compressed writes need whole clusters of "
                + cs
                + " bytes (offset "
                + offset
                + ", length "
                + count
                + ")");
      }
      ByteBuffer cluster = filled(cs, pattern);
      for (long at = offset; at < offset + count; at += cs) {
        cluster.clear().limit((int) Math.min(cs, offset + count - at));
        q.writeCompressed(cluster, at);
      }
    } else {
      ByteBuffer buf = filled((int) Math.min(CHUNK, Math.max(count, 1)), pattern);
      for (long at = offset; at < offset + count; at += buf.limit()) {
        buf.clear().limit((int) Math.min(buf.capacity(), offset + count - at));
        q.write(buf, at);
      }
    }
    if (!quiet) {
      out.print(IoReport.report("wrote", offset, count, count, System.nanoTime() - started));
    }
  }

  /** {@code discard [-q] off len}. */
  private void discard(DiskImage image, List<String> argv, PrintWriter out) throws IOException {
    argCount(argv, 2, -1);
    Getopt g = new Getopt(argv, "Cq", "discard [-q] off len");
    boolean quiet = false;
    for (char c; (c = g.next()) != 0; ) {
      switch (c) {
        case 'C' -> {}
        case 'q' -> quiet = true;
        default -> throw g.usage();
      }
    }
    List<String> rest = g.rest(2);
    long offset = number(rest.get(0));
    long count = length(rest.get(1));
    Qcow2Image q = writable(image, "discard");
    checkRange(image, "discard", offset, count);
    long started = System.nanoTime();
    q.discard(offset, count);
    if (!quiet) {
      out.print(IoReport.report("discard", offset, count, count, System.nanoTime() - started));
    }
  }

  private static Qcow2Image writable(DiskImage image, String op) {
    if (!(image instanceof Qcow2Image q)) {
      throw new Failure(op + " failed: writing " + image.format() + " images is not supported");
    }
    return q;
  }

  /** qemu checks every request against the disk size and answers EIO; we say why. */
  private static void checkRange(DiskImage image, String op, long offset, long count) {
    if (offset > image.size() || count > image.size() - offset) {
      throw new Failure(
          op
              + " failed: Input/output error (offset "
              + offset
              + " + length "
              + count
              + " is past the end of the disk, "
              + image.size()
              + " bytes)");
    }
  }

  private static ByteBuffer filled(int size, int pattern) {
    byte[] b = new byte[size];
    Arrays.fill(b, (byte) pattern);
    return ByteBuffer.wrap(b);
  }

  /** qemu-io's cvtnum with print_cvtnum_err's messages. */
  private static long number(String s) {
    try {
      return SizeParser.parseSigned(s);
    } catch (SizeParser.InvalidSizeException e) {
      throw new Failure(
          e.tooLarge()
              ? "Parsing error: argument too large -- " + s
              : "Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- " + s);
    }
  }

  /** A request length: a number no larger than BDRV_REQUEST_MAX_BYTES. */
  private static long length(String s) {
    long count = number(s);
    if (count > REQUEST_MAX_BYTES) {
      throw new Failure("length cannot exceed " + REQUEST_MAX_BYTES + ", given " + s);
    }
    return count;
  }

  /** parse_pattern: strtol with base 0, 0..255. */
  private static int parsePattern(String s) {
    String t = s.stripLeading();
    boolean negative = t.startsWith("-");
    if (t.startsWith("+") || negative) {
      t = t.substring(1);
    }
    int radix = 10;
    if (t.length() > 1 && (t.startsWith("0x") || t.startsWith("0X"))) {
      radix = 16;
      t = t.substring(2);
    } else if (t.length() > 1 && t.startsWith("0")) {
      radix = 8;
      t = t.substring(1);
    }
    try {
      long v = Long.parseLong(t, radix);
      if (!negative && v <= 255 && !t.startsWith("+") && !t.startsWith("-")) {
        return (int) v;
      }
    } catch (NumberFormatException e) {
      // the message below
    }
    throw new Failure(s + " is not a valid pattern byte");
  }

  /** qemu-io's argument count check, options included. */
  private static void argCount(List<String> argv, int min, int max) {
    int n = argv.size() - 1;
    if (n < min || (max != -1 && n > max)) {
      String name = argv.get(0);
      throw new Failure(
          max == -1
              ? "bad argument count "
                  + n
                  + " to "
                  + name
                  + ", expected at least "
                  + min
                  + " arguments"
              : min == max
                  ? "bad argument count " + n + " to " + name + ", expected " + min + " arguments"
                  : "bad argument count "
                      + n
                      + " to "
                      + name
                      + ", expected between "
                      + min
                      + " and "
                      + max
                      + " arguments");
    }
  }

  /** A small getopt over one command's words: flags first, then the positional arguments. */
  private static final class Getopt {
    private final List<String> argv;
    private final String spec;
    private final String usage;
    private int index = 1;
    private int inWord = 0;
    String arg;

    Getopt(List<String> argv, String spec, String usage) {
      this.argv = argv;
      this.spec = spec;
      this.usage = usage;
    }

    /** The next option letter, or 0 at the first positional argument (or "--"). */
    char next() {
      if (inWord == 0) {
        if (index >= argv.size()
            || !argv.get(index).startsWith("-")
            || argv.get(index).length() < 2) {
          return 0;
        }
        if (argv.get(index).equals("--")) {
          index++;
          return 0;
        }
        inWord = 1;
      }
      String word = argv.get(index);
      char c = word.charAt(inWord++);
      int at = spec.indexOf(c);
      if (at < 0 || c == ':') {
        throw new Failure(argv.get(0) + ": invalid option -- '" + c + "'");
      }
      boolean takesArg = at + 1 < spec.length() && spec.charAt(at + 1) == ':';
      if (takesArg) {
        if (inWord < word.length()) {
          arg = word.substring(inWord);
        } else if (index + 1 < argv.size()) {
          arg = argv.get(++index);
        } else {
          throw new Failure(argv.get(0) + ": option requires an argument -- '" + c + "'");
        }
        inWord = word.length();
      }
      if (inWord >= word.length()) {
        index++;
        inWord = 0;
      }
      return c;
    }

    /** Exactly {@code n} positional arguments, or the usage line. */
    List<String> rest(int n) {
      if (argv.size() - index != n) {
        throw usage();
      }
      return argv.subList(index, argv.size());
    }

    Failure usage() {
      return new Failure("usage: " + usage);
    }
  }
}
