package dev.qcow2.internal.crypto;

import dev.qcow2.crypto.LuksException;

/** The three ways a LUKS header fails, spelled once for the classes that read and make one. */
final class LuksErrors {
  private LuksErrors() {}

  static LuksException corrupt(long offset, String problem) {
    return new LuksException(LuksException.Kind.CORRUPT, offset, problem);
  }

  static LuksException unsupported(long offset, String problem) {
    return new LuksException(LuksException.Kind.UNSUPPORTED, offset, problem);
  }

  static LuksException invalidPassword() {
    return new LuksException(
        LuksException.Kind.INVALID_PASSWORD, -1, LuksException.INVALID_PASSWORD_TEXT);
  }
}
