package dev.qcow2.tools.cli;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;

/** Byte counts for people, exactly as qemu's {@code size_to_str} prints them ("2.82 MiB"). */
public final class Sizes {
  private static final String[] SUFFIXES = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};

  private Sizes() {}

  /**
   * qemu picks the power of 1024 from {@code frexp(val / (1000.0 / 1024.0))}, so that the number
   * shown stays below 1000, and prints it with C's {@code %0.3g}.
   */
  public static String toHuman(long bytes) {
    double val = unsignedToDouble(bytes);
    int i = frexpExponent(val / (1000.0 / 1024.0));
    i = (i - 1) / 10; // C division truncates toward zero, as Java's does
    double div = Math.pow(2, i * 10);
    return formatG3(val / div) + " " + SUFFIXES[i] + "B";
  }

  private static double unsignedToDouble(long v) {
    return v >= 0 ? v : (double) (v >>> 1) * 2.0 + (v & 1);
  }

  /** The exponent C's frexp returns: x = m * 2^e with 0.5 <= m < 1; 0 for 0. */
  static int frexpExponent(double x) {
    if (x == 0) {
      return 0;
    }
    return Math.getExponent(x) + 1;
  }

  /**
   * C's {@code printf("%0.3g", v)} for finite non-negative v: three significant digits, rounded
   * from the exact binary value (as glibc does), trailing zeros dropped, exponent form when the
   * decimal exponent is below -4 or at least 3.
   */
  static String formatG3(double v) {
    if (v == 0) {
      return "0";
    }
    BigDecimal rounded = new BigDecimal(v).round(new MathContext(3, RoundingMode.HALF_EVEN));
    int exponent = rounded.precision() - rounded.scale() - 1;
    if (exponent < -4 || exponent >= 3) {
      BigDecimal mantissa = rounded.movePointLeft(exponent).stripTrailingZeros();
      String m =
          mantissa.scale() <= 0 ? mantissa.toBigInteger().toString() : mantissa.toPlainString();
      String e = String.valueOf(Math.abs(exponent));
      return m + "e" + (exponent < 0 ? "-" : "+") + (e.length() < 2 ? "0" + e : e);
    }
    BigDecimal plain = rounded.stripTrailingZeros();
    return plain.scale() <= 0 ? plain.toBigInteger().toString() : plain.toPlainString();
  }
}
