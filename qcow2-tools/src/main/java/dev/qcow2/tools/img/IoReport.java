package dev.qcow2.tools.img;

import java.nio.ByteBuffer;
import java.util.Locale;

/**
 * qemu-io's printed forms (qemu-io-cmds.c and util/cutils.c of qemu 7.2): the two report lines
 * after each request ({@code print_report}, {@code cvtstr}, {@code timestr}) and the hex dump of
 * {@code read -v} ({@code dump_buffer}).
 */
final class IoReport {
  private IoReport() {}

  /**
   * "wrote 65536/65536 bytes at offset 0" and "64 KiB, 1 ops; 00.00 sec (X MiB/sec and Y ops/sec)",
   * each with its newline.
   */
  static String report(String op, long offset, long count, long total, long nanos) {
    double seconds = Math.max(nanos, 1) / 1e9;
    return String.format(Locale.ROOT, "%s %d/%d bytes at offset %d\n", op, total, count, offset)
        + String.format(
            Locale.ROOT,
            "%s, %d ops; %s (%s/sec and %.4f ops/sec)\n",
            cvtstr(total),
            1,
            timestr(nanos),
            cvtstr(total / seconds),
            1 / seconds);
  }

  /** cvtstr: "%.3f" in the largest binary unit that keeps the value at least 1, ".000" dropped. */
  static String cvtstr(double value) {
    String[] suffixes = {" EiB", " PiB", " TiB", " GiB", " MiB", " KiB"};
    String str = null;
    String suffix = " bytes";
    for (int i = 0; i < suffixes.length; i++) {
      double unit = Math.pow(1024, 6 - i);
      if (value >= unit) {
        str = String.format(Locale.ROOT, "%.3f", value / unit);
        suffix = suffixes[i];
        break;
      }
    }
    if (str == null) {
      str = String.format(Locale.ROOT, "%f", value);
    }
    int trim = str.indexOf(".000");
    return trim >= 0 ? str.substring(0, trim) + suffix : str + suffix;
  }

  /** timestr without a fixed format: "00.00 sec" under a second, else "H:MM:SS.ss". */
  static String timestr(long nanos) {
    long sec = nanos / 1_000_000_000L;
    double frac = (nanos % 1_000_000_000L) / 1e9;
    if (sec == 0) {
      return String.format(Locale.ROOT, "%05.2f sec", frac);
    }
    return String.format(Locale.ROOT, "%d:%02d:%05.2f", sec / 3600, sec / 60 % 60, sec % 60 + frac);
  }

  /**
   * dump_buffer: 16 bytes a line, "%08x: " then "%02x " per byte, a space, and the bytes as
   * characters (letters and digits; '.' for anything else). {@code at} is the guest offset of
   * {@code buf}'s first byte; a read dumped in pieces must cut them at multiples of 16 bytes.
   */
  static String hexdump(ByteBuffer buf, long at) {
    StringBuilder sb = new StringBuilder();
    int len = buf.remaining();
    int base = buf.position();
    for (int i = 0; i < len; i += 16) {
      sb.append(String.format(Locale.ROOT, "%08x:  ", at + i));
      int n = Math.min(16, len - i);
      for (int j = 0; j < n; j++) {
        sb.append(String.format(Locale.ROOT, "%02x ", buf.get(base + i + j) & 0xff));
      }
      sb.append(' ');
      for (int j = 0; j < n; j++) {
        int c = buf.get(base + i + j) & 0xff;
        boolean alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        sb.append(alnum ? (char) c : '.');
      }
      sb.append('\n');
    }
    return sb.toString();
  }
}
