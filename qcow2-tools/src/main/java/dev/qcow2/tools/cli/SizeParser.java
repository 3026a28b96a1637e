package dev.qcow2.tools.cli;

import java.math.BigInteger;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Byte counts as qemu-img and qemu-io accept them: qemu 7.2's {@code qemu_strtosz}, ported. A
 * decimal number (or hex after {@code 0x}), an optional fraction (only with a suffix), and an
 * optional suffix B, k, M, G, T, P or E (powers of 1024, any case); "1.3k" is 1331 bytes.
 */
public final class SizeParser implements ITypeConverter<Long> {
  private static final BigInteger TWO_64 = BigInteger.ONE.shiftLeft(64);

  /** Why a size was refused: qemu_strtosz's -EINVAL or -ERANGE. */
  public static final class InvalidSizeException extends IllegalArgumentException {
    private final boolean tooLarge;

    InvalidSizeException(String value, boolean tooLarge) {
      super((tooLarge ? "size too large: " : "not a size: ") + value);
      this.tooLarge = tooLarge;
    }

    /** True for a well-formed number of 2^63 bytes or more (qemu's ERANGE). */
    public boolean tooLarge() {
      return tooLarge;
    }
  }

  @Override
  public Long convert(String value) {
    return parse(value);
  }

  /** A size of at most 2^63 - 1 bytes, or picocli's conversion error. */
  public static long parse(String value) {
    try {
      return parseSigned(value);
    } catch (InvalidSizeException e) {
      throw new TypeConversionException(
          "'"
              + value
              + "' is not a valid size (a whole number of bytes; k, M, G, T, P, E suffixes)");
    }
  }

  /** As qemu's cvtnum: {@link #strtosz} limited to 0 .. 2^63 - 1. */
  public static long parseSigned(String value) {
    long v = strtosz(value);
    if (v < 0) {
      throw new InvalidSizeException(value, true);
    }
    return v;
  }

  /**
   * qemu_strtosz with its default suffix B: the value as an unsigned 64-bit number.
   *
   * @throws InvalidSizeException if the text is not a size, or the size needs more than 64 bits
   */
  public static long strtosz(String value) {
    String s = value;
    int i = 0;
    while (i < s.length() && isSpace(s.charAt(i))) {
      i++;
    }
    if (i < s.length() && (s.charAt(i) == '+' || s.charAt(i) == '-')) {
      if (s.charAt(i) == '-') {
        throw new InvalidSizeException(value, false);
      }
      i++;
    }
    int digits = i;
    while (i < s.length() && Character.isDigit(s.charAt(i)) && s.charAt(i) < 128) {
      i++;
    }
    if (i == digits) {
      throw new InvalidSizeException(value, false);
    }
    BigInteger val = new BigInteger(s.substring(digits, i));
    if (val.compareTo(TWO_64) >= 0) {
      throw new InvalidSizeException(value, true);
    }
    BigInteger valf = BigInteger.ZERO;
    boolean hex = false;
    if (val.signum() == 0 && i < s.length() && (s.charAt(i) == 'x' || s.charAt(i) == 'X')) {
      int h = ++i;
      while (i < s.length() && Character.digit(s.charAt(i), 16) >= 0 && s.charAt(i) < 128) {
        i++;
      }
      if (i == h) {
        throw new InvalidSizeException(value, false);
      }
      val = new BigInteger(s.substring(h, i), 16);
      if (val.compareTo(TWO_64) >= 0) {
        throw new InvalidSizeException(value, true);
      }
      if (i < s.length() && s.charAt(i) == '.') {
        throw new InvalidSizeException(value, false);
      }
      hex = true;
    } else if (i < s.length() && s.charAt(i) == '.') {
      int f = ++i;
      while (i < s.length() && Character.isDigit(s.charAt(i)) && s.charAt(i) < 128) {
        i++;
      }
      if (i > f) {
        if (i < s.length() && (s.charAt(i) == 'e' || s.charAt(i) == 'E')) {
          // strtod would read an exponent; qemu refuses the whole input then.
          int e = i + 1;
          if (e < s.length() && (s.charAt(e) == '+' || s.charAt(e) == '-')) {
            e++;
          }
          if (e < s.length() && Character.isDigit(s.charAt(e))) {
            throw new InvalidSizeException(value, false);
          }
        }
        double fraction = Double.parseDouble("0." + s.substring(f, i));
        // (uint64_t)(fraction * 0x1p64); a fraction rounded up to 1.0 overflows to 0 on x86-64.
        BigInteger fixed = new java.math.BigDecimal(fraction * 0x1p64).toBigInteger();
        valf = fixed.compareTo(TWO_64) >= 0 ? BigInteger.ZERO : fixed;
      }
    }
    long mul = 1;
    if (i < s.length()) {
      mul = suffixMultiplier(s.charAt(i));
      if (mul > 0) {
        i++;
      } else {
        mul = 1;
      }
    }
    if (i != s.length()) {
      throw new InvalidSizeException(value, false);
    }
    if (mul == 1) {
      if (valf.signum() != 0) {
        throw new InvalidSizeException(value, false);
      }
      return val.longValue();
    }
    assert !hex || valf.signum() == 0;
    // 64.64 fixed point times the multiplier, rounding half a byte up.
    BigInteger m = BigInteger.valueOf(mul);
    BigInteger fracProduct = valf.multiply(m);
    BigInteger total = val.multiply(m).add(fracProduct.shiftRight(64));
    if (fracProduct.testBit(63)) {
      total = total.add(BigInteger.ONE);
    }
    if (total.compareTo(TWO_64) >= 0) {
      throw new InvalidSizeException(value, true);
    }
    return total.longValue();
  }

  private static long suffixMultiplier(char c) {
    return switch (Character.toUpperCase(c)) {
      case 'B' -> 1;
      case 'K' -> 1L << 10;
      case 'M' -> 1L << 20;
      case 'G' -> 1L << 30;
      case 'T' -> 1L << 40;
      case 'P' -> 1L << 50;
      case 'E' -> 1L << 60;
      default -> -1;
    };
  }

  private static boolean isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0x0b;
  }
}
