package dev.qcow2.tools.img;

import dev.qcow2.crypto.LuksAmendOptions;
import dev.qcow2.tools.cli.UsageException;
import java.math.BigInteger;
import java.util.Arrays;
import java.util.Locale;
import java.util.Set;

/**
 * qemu-img amend's LUKS key slot options for qcow2, taken from {@code -o}: {@code encrypt.state},
 * {@code encrypt.keyslot}, {@code encrypt.old-secret} and {@code encrypt.new-secret} (secret ids),
 * with {@code encrypt.iter-time}, which create's option list already reads. The library checks
 * them, with qemu's messages; only the option syntax is checked here.
 */
final class KeySlotOptions {
  /** The amend-only names; encrypt.iter-time is a create option too. */
  static final Set<String> NAMES =
      Set.of("encrypt.state", "encrypt.keyslot", "encrypt.old-secret", "encrypt.new-secret");

  private static final BigInteger U64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

  private String state;
  private Integer keyslot;
  private String oldSecret;
  private String newSecret;

  /** Takes one {@code -o} item of {@link #NAMES}; the last value of a name wins, as in qemu. */
  void take(String name, String value) {
    switch (name) {
      case "encrypt.state" -> state = value;
      case "encrypt.keyslot" -> keyslot = number(name, value);
      case "encrypt.old-secret" -> oldSecret = value;
      default -> newSecret = value; // encrypt.new-secret
    }
  }

  /**
   * qemu's number option (qemu_strtou64, base 0: a leading minus wraps around) as the int qemu's
   * key slot field keeps: its low 32 bits.
   */
  private static int number(String name, String value) {
    String s = value.strip();
    boolean negative = s.startsWith("-");
    if (negative || s.startsWith("+")) {
      s = s.substring(1);
    }
    int radix = 10;
    if (s.matches("0[xX].+")) {
      radix = 16;
      s = s.substring(2);
    } else if (s.matches("0.+")) {
      radix = 8;
    }
    BigInteger v;
    try {
      v = new BigInteger(s, radix);
    } catch (NumberFormatException e) {
      throw new UsageException("Parameter '" + name + "' expects a number");
    }
    if (v.signum() < 0) {
      throw new UsageException("Parameter '" + name + "' expects a number");
    }
    if (v.compareTo(U64_MAX) > 0) {
      throw new UsageException("Value '" + value + "' is too large for parameter '" + name + "'");
    }
    return negative ? v.negate().intValue() : v.intValue();
  }

  /** Whether any key slot option was given (encrypt.iter-time included). */
  boolean any(CreateOptionList opts) {
    return state != null
        || keyslot != null
        || oldSecret != null
        || newSecret != null
        || opts.isSet("encrypt.iter-time");
  }

  /**
   * The change the options ask for, with the passphrases of the secrets they name.
   *
   * @throws UsageException for a state qemu does not know
   * @throws IllegalArgumentException for a secret id no --object defined (qemu's words)
   */
  LuksAmendOptions build(Secrets secrets, CreateOptionList opts) {
    LuksAmendOptions.Builder b = LuksAmendOptions.builder();
    if (state != null) {
      if (!state.equals("active") && !state.equals("inactive")) {
        throw new UsageException("Parameter 'state' does not accept value '" + state + "'");
      }
      b.state(LuksAmendOptions.State.valueOf(state.toUpperCase(Locale.ROOT)));
    }
    if (keyslot != null) {
      b.keyslot(keyslot);
    }
    if (opts.isSet("encrypt.iter-time")) {
      b.iterTimeMillis(opts.number("encrypt.iter-time", 0));
    }
    if (oldSecret != null) {
      byte[] pass = secrets.get(oldSecret);
      b.oldSecret(pass);
      Arrays.fill(pass, (byte) 0);
    }
    if (newSecret != null) {
      byte[] pass = secrets.get(newSecret);
      b.newSecret(pass);
      Arrays.fill(pass, (byte) 0);
    }
    return b.build();
  }
}
