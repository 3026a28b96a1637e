package dev.qcow2.internal.crypto;

import java.security.GeneralSecurityException;
import javax.crypto.Cipher;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/** The JDK's AES block functions, in the few shapes the LUKS modes need. */
final class Aes {
  private Aes() {}

  /** AES in ECB without padding: the raw block function, one block or many. */
  static Cipher ecb(byte[] key, boolean encrypt) {
    try {
      Cipher c = Cipher.getInstance("AES/ECB/NoPadding");
      c.init(encrypt ? Cipher.ENCRYPT_MODE : Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"));
      return c;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("the JDK's AES refused a " + key.length + "-byte key", e);
    }
  }

  static Cipher cbc() {
    try {
      return Cipher.getInstance("AES/CBC/NoPadding");
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("the JDK lacks AES/CBC", e);
    }
  }

  static void initCbc(Cipher c, byte[] key, byte[] iv, boolean encrypt) {
    try {
      c.init(
          encrypt ? Cipher.ENCRYPT_MODE : Cipher.DECRYPT_MODE,
          new SecretKeySpec(key, "AES"),
          new IvParameterSpec(iv));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Runs {@code c} over {@code len} bytes of {@code buf} in place. */
  static void run(Cipher c, byte[] buf, int off, int len) {
    try {
      c.update(buf, off, len, buf, off);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }
}
