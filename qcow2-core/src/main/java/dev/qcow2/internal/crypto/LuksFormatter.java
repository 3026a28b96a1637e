package dev.qcow2.internal.crypto;

import dev.qcow2.crypto.LuksException;
import dev.qcow2.crypto.LuksOptions;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.UUID;

/**
 * Makes a new LUKS1 header as qemu's crypto/block-luks.c lays it out: the header in the first 4
 * KiB, then eight key slots of key-bytes * 4000 bytes each rounded up to 4 KiB, slot 0 holding the
 * master key under the passphrase, the payload offset after the last slot. PBKDF2 iterations are
 * measured as qemu does: slot 0 gets iter-time milliseconds, the master key digest an eighth of
 * that, both at least 1000.
 */
public final class LuksFormatter {
  static final long MIN_ITERATIONS = 1000;

  private LuksFormatter() {}

  /** A new header region and the payload cipher under its master key. */
  public record Formatted(byte[] region, SectorCipher cipher) {}

  /**
   * Checks the options, so that a bad name is refused before any file is made.
   *
   * @param o the options
   * @throws LuksException if an algorithm is unknown or unsupported, or the time not positive
   */
  public static void check(LuksOptions o) throws LuksException {
    CipherSpec spec =
        CipherSpec.ofOptions(o.cipherAlg(), o.cipherMode(), o.ivgenAlg(), o.ivgenHashAlg());
    LuksHash.named(o.hashAlg(), -1);
    int material = spec.keyBytes() * LuksHeader.STRIPES;
    if (material % SectorCipher.SECTOR_SIZE != 0) {
      // qemu 7.2 aborts on such a header (an assertion in crypto/block.c), so none is made.
      throw LuksErrors.unsupported(
          -1,
          "cipher "
              + o.cipherAlg()
              + "-"
              + o.cipherMode()
              + " is not supported: its key material ("
              + material
              + " bytes) is not whole sectors");
    }
    if (o.iterTimeMillis() < 1) {
      throw LuksErrors.unsupported(-1, "iter-time " + o.iterTimeMillis() + " is not positive");
    }
  }

  /**
   * A new header whose slot 0 opens with {@code passphrase}; the caller wipes the passphrase.
   *
   * @param o the options
   * @param passphrase the passphrase's bytes
   * @return the header region and the payload cipher under its new master key
   * @throws LuksException if the options are refused
   */
  public static Formatted format(LuksOptions o, byte[] passphrase) throws LuksException {
    check(o);
    CipherSpec spec =
        CipherSpec.ofOptions(o.cipherAlg(), o.cipherMode(), o.ivgenAlg(), o.ivgenHashAlg());
    LuksHash hash = LuksHash.named(o.hashAlg(), -1);
    SecureRandom random = new SecureRandom();
    int keyBytes = spec.keyBytes();
    int splitSectors =
        roundUp(keyBytes * LuksHeader.STRIPES, LuksHeader.KEY_SLOT_OFFSET)
            / SectorCipher.SECTOR_SIZE;
    int headerSectors = LuksHeader.KEY_SLOT_OFFSET / SectorCipher.SECTOR_SIZE;
    int payloadSectors = headerSectors + LuksHeader.SLOTS * splitSectors;
    byte[] region = new byte[payloadSectors * SectorCipher.SECTOR_SIZE];
    ByteBuffer b = ByteBuffer.wrap(region);
    byte[] masterKey = new byte[keyBytes];
    random.nextBytes(masterKey);
    try {
      b.put(LuksHeader.MAGIC).putShort((short) 1);
      putText(b, LuksHeader.CIPHER_NAME_AT, "aes");
      putText(b, LuksHeader.CIPHER_MODE_AT, spec.luksMode());
      putText(b, LuksHeader.HASH_SPEC_AT, hash.luksName);
      b.putInt(LuksHeader.PAYLOAD_OFFSET_AT, payloadSectors);
      b.putInt(LuksHeader.KEY_BYTES_AT, keyBytes);
      byte[] mkSalt = salt(random);
      long rate = iterationsPerSecond(hash, masterKey, mkSalt, LuksHeader.DIGEST_LENGTH);
      long mkIters =
          Math.min(
              LuksHeader.MAX_ITERATIONS,
              Math.max(MIN_ITERATIONS, rate * o.iterTimeMillis() / 1000 / 8));
      b.put(
          LuksHeader.MK_DIGEST_AT,
          hash.pbkdf2(masterKey, mkSalt, mkIters, LuksHeader.DIGEST_LENGTH));
      b.put(LuksHeader.MK_SALT_AT, mkSalt);
      b.putInt(LuksHeader.MK_ITER_AT, (int) mkIters);
      putText(b, LuksHeader.UUID_AT, UUID.randomUUID().toString());
      byte[] slotSalt = salt(random);
      long slotIters = slotIterations(hash, passphrase, slotSalt, keyBytes, o.iterTimeMillis());
      for (int i = 0; i < LuksHeader.SLOTS; i++) {
        int at = LuksHeader.SLOTS_AT + i * LuksHeader.SLOT_SIZE;
        b.putInt(at, i == 0 ? LuksHeader.SLOT_ENABLED : LuksHeader.SLOT_DISABLED);
        if (i == 0) {
          b.putInt(at + 4, (int) slotIters);
          b.put(at + 8, slotSalt);
        }
        b.putInt(at + 40, headerSectors + i * splitSectors);
        b.putInt(at + 44, LuksHeader.STRIPES);
      }
      byte[] slotKey = hash.pbkdf2(passphrase, slotSalt, slotIters, keyBytes);
      byte[] material = AntiForensic.split(masterKey, LuksHeader.STRIPES, hash, random);
      SectorCipher slotCipher = new SectorCipher(spec, slotKey);
      slotCipher.encrypt(material, 0, material.length, 0);
      slotCipher.destroy();
      Arrays.fill(slotKey, (byte) 0);
      System.arraycopy(
          material, 0, region, headerSectors * SectorCipher.SECTOR_SIZE, material.length);
      return new Formatted(region, new SectorCipher(spec, masterKey));
    } finally {
      Arrays.fill(masterKey, (byte) 0);
    }
  }

  /**
   * The PBKDF2 iterations of a key slot whose passphrase should take {@code iterTimeMillis} to
   * check here: at least qemu's 1000, at most what {@link LuksHeader} accepts.
   */
  static long slotIterations(
      LuksHash hash, byte[] passphrase, byte[] salt, int keyBytes, long iterTimeMillis) {
    long rate = iterationsPerSecond(hash, passphrase, salt, keyBytes);
    long wanted =
        iterTimeMillis > Long.MAX_VALUE / Math.max(1, rate)
            ? Long.MAX_VALUE
            : rate * iterTimeMillis / 1000;
    return Math.min(LuksHeader.MAX_ITERATIONS, Math.max(MIN_ITERATIONS, wanted));
  }

  /**
   * PBKDF2 iterations this machine does in a second with {@code hash}, measured over a run of at
   * least 100 ms (qemu's qcrypto_pbkdf2_count_iters measures 500 ms the same way).
   */
  static long iterationsPerSecond(LuksHash hash, byte[] password, byte[] salt, int length) {
    long iterations = 1 << 10;
    while (true) {
      long start = System.nanoTime();
      hash.pbkdf2(password, salt, iterations, length);
      long nanos = System.nanoTime() - start;
      if (nanos >= 100_000_000L || iterations >= LuksHeader.MAX_ITERATIONS) {
        long perSecond = iterations * 1_000_000_000L / Math.max(1, nanos);
        return Math.min(perSecond, LuksHeader.MAX_ITERATIONS);
      }
      iterations *= 2;
    }
  }

  static byte[] salt(SecureRandom random) {
    byte[] s = new byte[LuksHeader.SALT_LENGTH];
    random.nextBytes(s);
    return s;
  }

  private static void putText(ByteBuffer b, int at, String text) {
    b.put(at, text.getBytes(StandardCharsets.US_ASCII));
  }

  private static int roundUp(int n, int unit) {
    return (n + unit - 1) / unit * unit;
  }
}
