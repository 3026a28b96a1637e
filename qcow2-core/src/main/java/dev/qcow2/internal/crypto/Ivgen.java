package dev.qcow2.internal.crypto;

import java.util.Arrays;
import javax.crypto.Cipher;

/**
 * The IV generators of a LUKS cipher-mode string ("xts-plain64", "cbc-essiv:sha256"): the IV of a
 * 512-byte sector from its number, as dm-crypt and qemu's crypto/ivgen-*.c define them. plain is
 * the sector number's low 32 bits little-endian, plain64 all 64 bits, zero-padded to the IV size;
 * essiv encrypts the plain64 IV with AES keyed by the hash of the master key.
 */
abstract class Ivgen {
  static final int IV_LENGTH = 16;

  final String name;

  private Ivgen(String name) {
    this.name = name;
  }

  /** Writes the IV of {@code sector} into {@code iv} (16 bytes). */
  abstract void iv(long sector, byte[] iv);

  /** A copy for another thread, where the generator keeps per-thread state. */
  Ivgen copy() {
    return this;
  }

  static Ivgen plain() {
    return new Ivgen("plain") {
      @Override
      void iv(long sector, byte[] iv) {
        Arrays.fill(iv, (byte) 0);
        putLe(iv, sector & 0xffffffffL, 4);
      }
    };
  }

  static Ivgen plain64() {
    return new Ivgen("plain64") {
      @Override
      void iv(long sector, byte[] iv) {
        Arrays.fill(iv, (byte) 0);
        putLe(iv, sector, 8);
      }
    };
  }

  /** ESSIV with {@code hash}, whose digest {@link CipherSpec} checked is an AES key size. */
  static Ivgen essiv(LuksHash hash, byte[] masterKey) {
    byte[] salt = hash.digest().digest(masterKey);
    Essiv e = new Essiv(salt);
    Arrays.fill(salt, (byte) 0);
    return e;
  }

  private static final class Essiv extends Ivgen {
    private final byte[] salt;
    private final Cipher cipher;

    Essiv(byte[] salt) {
      super("essiv");
      this.salt = salt.clone();
      this.cipher = Aes.ecb(this.salt, true);
    }

    @Override
    void iv(long sector, byte[] iv) {
      Arrays.fill(iv, (byte) 0);
      putLe(iv, sector, 8);
      Aes.run(cipher, iv, 0, IV_LENGTH);
    }

    @Override
    Ivgen copy() {
      return new Essiv(salt);
    }
  }

  private static void putLe(byte[] b, long v, int bytes) {
    for (int i = 0; i < bytes; i++) {
      b[i] = (byte) (v >>> (8 * i));
    }
  }
}
