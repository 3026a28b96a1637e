package dev.qcow2.internal.crypto;

import dev.qcow2.crypto.LuksException;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The hashes a LUKS1 header may name in hash-spec (and for essiv), by their LUKS and qemu names,
 * with PBKDF2 (RFC 8018) over HMAC of each. PBKDF2 is done here rather than through the JDK's
 * SecretKeyFactory, which takes the password as chars and re-encodes it: LUKS passphrases are
 * bytes, and the master key digest runs PBKDF2 over the binary master key.
 */
enum LuksHash {
  SHA1("sha1", "SHA-1", "HmacSHA1", 20),
  SHA224("sha224", "SHA-224", "HmacSHA224", 28),
  SHA256("sha256", "SHA-256", "HmacSHA256", 32),
  SHA384("sha384", "SHA-384", "HmacSHA384", 48),
  SHA512("sha512", "SHA-512", "HmacSHA512", 64);

  /** qemu's hash names that the JDK has no implementation of. */
  private static final java.util.List<String> MISSING =
      java.util.List.of("ripemd160", "md5", "sm3");

  final String luksName;
  final String jdkName;
  final String hmacName;
  final int digestLength;

  LuksHash(String luksName, String jdkName, String hmacName, int digestLength) {
    this.luksName = luksName;
    this.jdkName = jdkName;
    this.hmacName = hmacName;
    this.digestLength = digestLength;
  }

  /** The hash called {@code name} in a LUKS header or a qemu option. */
  static LuksHash named(String name, long offset) throws LuksException {
    for (LuksHash h : values()) {
      if (h.luksName.equals(name)) {
        return h;
      }
    }
    if (MISSING.contains(name)) {
      throw LuksErrors.unsupported(
          offset, "hash " + name + " is not supported (the JDK has no " + name + ")");
    }
    throw LuksErrors.unsupported(offset, "hash '" + name + "' is not supported");
  }

  MessageDigest digest() {
    try {
      return MessageDigest.getInstance(jdkName);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK lacks " + jdkName, e);
    }
  }

  Mac hmac(byte[] key) {
    try {
      Mac mac = Mac.getInstance(hmacName);
      // HMAC pads a short key with zeros, so an empty key is the one zero byte, which the JDK's
      // SecretKeySpec (refusing empty keys) accepts.
      mac.init(new SecretKeySpec(key.length == 0 ? new byte[1] : key, hmacName));
      return mac;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("the JDK lacks " + hmacName, e);
    }
  }

  /** PBKDF2 with HMAC of this hash: {@code length} bytes derived from the password and salt. */
  byte[] pbkdf2(byte[] password, byte[] salt, long iterations, int length) {
    Mac mac = hmac(password);
    int h = digestLength;
    byte[] out = new byte[length];
    byte[] u = new byte[h];
    byte[] t = new byte[h];
    byte[] index = new byte[4];
    for (int block = 1, done = 0; done < length; block++, done += h) {
      index[0] = (byte) (block >>> 24);
      index[1] = (byte) (block >>> 16);
      index[2] = (byte) (block >>> 8);
      index[3] = (byte) block;
      mac.update(salt);
      mac.update(index);
      doFinal(mac, u);
      System.arraycopy(u, 0, t, 0, h);
      for (long i = 1; i < iterations; i++) {
        mac.update(u);
        doFinal(mac, u);
        for (int k = 0; k < h; k++) {
          t[k] ^= u[k];
        }
      }
      System.arraycopy(t, 0, out, done, Math.min(h, length - done));
    }
    java.util.Arrays.fill(u, (byte) 0);
    java.util.Arrays.fill(t, (byte) 0);
    return out;
  }

  private static void doFinal(Mac mac, byte[] into) {
    try {
      mac.doFinal(into, 0);
    } catch (javax.crypto.ShortBufferException e) {
      throw new IllegalStateException(e);
    }
  }
}
