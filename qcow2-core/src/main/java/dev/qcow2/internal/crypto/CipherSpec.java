package dev.qcow2.internal.crypto;

import dev.qcow2.crypto.LuksException;
import java.util.List;

/**
 * A LUKS payload cipher as the header names it (cipher-name "aes", cipher-mode "xts-plain64" or
 * "cbc-essiv:sha256", key-bytes) and as qemu names it (cipher-alg "aes-256", cipher-mode "xts",
 * ivgen-alg "plain64", ivgen-hash-alg "sha256"). Only AES is here: qemu's serpent, twofish and
 * cast5 have no JDK implementation and are refused by name.
 */
final class CipherSpec {
  enum Mode {
    XTS("xts"),
    CBC("cbc");

    final String text;

    Mode(String text) {
      this.text = text;
    }
  }

  private static final List<String> MISSING = List.of("serpent", "twofish", "cast5", "des", "3des");

  /** AES key size in bytes: 16, 24 or 32 (each of XTS's two keys has this size). */
  final int aesKeyBytes;

  final Mode mode;
  final String ivgenName;

  /** The essiv hash, or null for plain and plain64. */
  final LuksHash ivgenHash;

  CipherSpec(int aesKeyBytes, Mode mode, String ivgenName, LuksHash ivgenHash) {
    this.aesKeyBytes = aesKeyBytes;
    this.mode = mode;
    this.ivgenName = ivgenName;
    this.ivgenHash = ivgenHash;
  }

  /** The master key's length: XTS takes two AES keys. */
  int keyBytes() {
    return mode == Mode.XTS ? 2 * aesKeyBytes : aesKeyBytes;
  }

  /** qemu's cipher-alg, e.g. "aes-256". */
  String cipherAlg() {
    return "aes-" + aesKeyBytes * 8;
  }

  /** The header's cipher-mode field, e.g. "cbc-essiv:sha256". */
  String luksMode() {
    return mode.text + "-" + ivgenName + (ivgenHash != null ? ":" + ivgenHash.luksName : "");
  }

  Ivgen ivgen(byte[] masterKey) {
    switch (ivgenName) {
      case "plain":
        return Ivgen.plain();
      case "plain64":
        return Ivgen.plain64();
      default:
        return Ivgen.essiv(ivgenHash, masterKey);
    }
  }

  /** The cipher a header names; offsets are those of its fields, for messages. */
  static CipherSpec ofHeader(String cipherName, String cipherMode, int keyBytes)
      throws LuksException {
    if (!cipherName.equals("aes")) {
      throw unsupportedCipher(LuksHeader.CIPHER_NAME_AT, cipherName);
    }
    int dash = cipherMode.indexOf('-');
    String modeName = dash < 0 ? cipherMode : cipherMode.substring(0, dash);
    String ivgen = dash < 0 ? "" : cipherMode.substring(dash + 1);
    Mode mode = mode(LuksHeader.CIPHER_MODE_AT, modeName);
    int aes = mode == Mode.XTS ? keyBytes / 2 : keyBytes;
    if ((mode == Mode.XTS && keyBytes % 2 != 0) || (aes != 16 && aes != 24 && aes != 32)) {
      throw LuksErrors.corrupt(
          LuksHeader.KEY_BYTES_AT, "key-bytes " + keyBytes + " is no AES key size for " + modeName);
    }
    String hashName = null;
    int colon = ivgen.indexOf(':');
    if (colon >= 0) {
      hashName = ivgen.substring(colon + 1);
      ivgen = ivgen.substring(0, colon);
    }
    return of(aes, mode, ivgen, hashName, LuksHeader.CIPHER_MODE_AT);
  }

  /** The cipher qemu's create options name (cipher-alg, cipher-mode, ivgen-alg, ivgen-hash-alg). */
  static CipherSpec ofOptions(String cipherAlg, String cipherMode, String ivgen, String ivgenHash)
      throws LuksException {
    int dash = cipherAlg.lastIndexOf('-');
    String family = dash < 0 ? cipherAlg : cipherAlg.substring(0, dash);
    if (!family.equals("aes")) {
      throw unsupportedCipher(-1, family);
    }
    int bits;
    try {
      bits = Integer.parseInt(cipherAlg.substring(dash + 1));
    } catch (NumberFormatException e) {
      bits = 0;
    }
    if (bits != 128 && bits != 192 && bits != 256) {
      throw LuksErrors.unsupported(-1, "cipher " + cipherAlg + " is not supported");
    }
    return of(bits / 8, mode(-1, cipherMode), ivgen, ivgenHash, -1);
  }

  private static CipherSpec of(int aes, Mode mode, String ivgen, String hashName, long offset)
      throws LuksException {
    switch (ivgen) {
      case "plain":
      case "plain64":
        return new CipherSpec(aes, mode, ivgen, null);
      case "essiv":
        LuksHash hash = LuksHash.named(hashName == null ? "sha256" : hashName, offset);
        int n = hash.digestLength;
        if (n != 16 && n != 24 && n != 32) {
          throw LuksErrors.unsupported(
              offset, "essiv hash " + hash.luksName + " gives no AES key size (" + n + " bytes)");
        }
        return new CipherSpec(aes, mode, ivgen, hash);
      default:
        throw LuksErrors.unsupported(offset, "ivgen '" + ivgen + "' is not supported");
    }
  }

  private static Mode mode(long offset, String name) throws LuksException {
    for (Mode m : Mode.values()) {
      if (m.text.equals(name)) {
        return m;
      }
    }
    throw LuksErrors.unsupported(offset, "cipher mode '" + name + "' is not supported");
  }

  private static LuksException unsupportedCipher(long offset, String name) {
    if (MISSING.contains(name)) {
      return LuksErrors.unsupported(
          offset, "cipher " + name + " is not supported (the JDK has no " + name + ")");
    }
    return LuksErrors.unsupported(offset, "cipher '" + name + "' is not supported");
  }
}
