package dev.qcow2.tools;

import java.math.BigDecimal;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Byte counts as qemu-img accepts them ({@code qemu_strtosz}): a number, optionally with a fraction,
 * and an optional suffix B, k, M, G, T, P or E (powers of 1024, any case).
 */
public final class SizeParser implements ITypeConverter<Long> {
  private static final String SUFFIXES = "BKMGTPE";

  @Override
  public Long convert(String value) {
    return parse(value);
  }

  public static long parse(String value) {
    String s = value.trim();
    int shift = 0;
    if (!s.isEmpty()) {
      int i = SUFFIXES.indexOf(Character.toUpperCase(s.charAt(s.length() - 1)));
      if (i >= 0) {
        shift = 10 * i;
        s = s.substring(0, s.length() - 1);
      }
    }
    BigDecimal bytes;
    try {
      bytes = new BigDecimal(s).multiply(BigDecimal.valueOf(1L << shift));
    } catch (NumberFormatException e) {
      bytes = null;
    }
    if (bytes == null || bytes.signum() < 0 || bytes.stripTrailingZeros().scale() > 0
        || bytes.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
      throw new TypeConversionException(
          "'" + value + "' is not a valid size (a whole number of bytes; k, M, G, T, P, E suffixes)");
    }
    return bytes.longValueExact();
  }
}
