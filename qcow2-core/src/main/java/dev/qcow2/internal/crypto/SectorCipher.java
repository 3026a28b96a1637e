package dev.qcow2.internal.crypto;

import java.util.Arrays;
import javax.crypto.Cipher;

/**
 * The payload cipher of a LUKS volume: AES in xts or cbc mode over 512-byte sectors, each with the
 * IV its ivgen gives for its sector number. Thread-safe: each thread gets its own JDK cipher
 * objects. Holds the master key until {@link #destroy}.
 */
public final class SectorCipher {
  /** LUKS1 and qemu encrypt in sectors of 512 bytes. */
  public static final int SECTOR_SIZE = 512;

  final CipherSpec spec;
  private final byte[] key;

  /**
   * Set by {@link #destroy}: the threads' cipher objects keep their key schedules (the JDK gives no
   * way to wipe them), so every call checks this instead, and a sector processed across a destroy
   * is refused rather than returned under a half-wiped key.
   */
  private volatile boolean destroyed;

  private final Ivgen ivgen;
  private final ThreadLocal<Worker> workers = ThreadLocal.withInitial(this::newWorker);

  SectorCipher(CipherSpec spec, byte[] key) {
    this.spec = spec;
    this.key = key.clone();
    this.ivgen = spec.ivgen(this.key);
  }

  /**
   * The legacy qcow2 AES method (crypt_method 1): AES-128-CBC with plain64 IVs, keyed by the
   * passphrase's first 16 bytes, zero-padded, as qemu's crypto/block-qcow.c does.
   *
   * @param passphrase the passphrase (the caller wipes it)
   * @return the payload cipher
   */
  public static SectorCipher qcowAes(byte[] passphrase) {
    byte[] key = Arrays.copyOf(passphrase, 16);
    try {
      return new SectorCipher(new CipherSpec(16, CipherSpec.Mode.CBC, "plain64", null), key);
    } finally {
      Arrays.fill(key, (byte) 0);
    }
  }

  /**
   * Encrypts {@code len} bytes (whole sectors) in place.
   *
   * @param buf the bytes
   * @param off where they start in {@code buf}
   * @param len how many, a multiple of 512
   * @param sector the number of the first sector, which its IV is made from
   */
  public void encrypt(byte[] buf, int off, int len, long sector) {
    checkLive();
    workers.get().run(buf, off, len, sector, true);
    checkLive();
  }

  /**
   * Decrypts {@code len} bytes (whole sectors) in place.
   *
   * @param buf the bytes
   * @param off where they start in {@code buf}
   * @param len how many, a multiple of 512
   * @param sector the number of the first sector, which its IV is made from
   */
  public void decrypt(byte[] buf, int off, int len, long sector) {
    checkLive();
    workers.get().run(buf, off, len, sector, false);
    checkLive();
  }

  /** Forgets the key, as far as Java allows: the arrays this object made are zeroed. */
  public void destroy() {
    destroyed = true;
    Arrays.fill(key, (byte) 0);
    workers.remove();
  }

  /**
   * Whether {@link #destroy} was called.
   *
   * @return true once the key is forgotten
   */
  public boolean destroyed() {
    return destroyed;
  }

  private void checkLive() {
    if (destroyed) {
      throw new IllegalStateException("the image's encryption key was forgotten: it is closed");
    }
  }

  private Worker newWorker() {
    return new Worker();
  }

  /** One thread's cipher objects and IV buffer. */
  private final class Worker {
    private final Ivgen iv = ivgen.copy();
    private final byte[] ivBytes = new byte[Ivgen.IV_LENGTH];
    private final Xts xts = spec.mode == CipherSpec.Mode.XTS ? new Xts(key) : null;
    private final Cipher cbc = spec.mode == CipherSpec.Mode.CBC ? Aes.cbc() : null;

    /** Sectors batched into one {@link Xts#sectors} call: 128 KiB of data, 4 KiB of IVs. */
    private static final int BATCH = 256;

    private byte[] ivs;

    void run(byte[] buf, int off, int len, long sector, boolean enc) {
      if (xts != null && len % SECTOR_SIZE == 0) {
        if (ivs == null) {
          ivs = new byte[BATCH * Ivgen.IV_LENGTH];
        }
        for (int done = 0; done < len; ) {
          int units = Math.min(BATCH, (len - done) / SECTOR_SIZE);
          for (int u = 0; u < units; u++) {
            iv.iv(sector + u, ivBytes);
            System.arraycopy(ivBytes, 0, ivs, u * Ivgen.IV_LENGTH, Ivgen.IV_LENGTH);
          }
          xts.sectors(buf, off + done, units, ivs, enc);
          done += units * SECTOR_SIZE;
          sector += units;
        }
        return;
      }
      // A last partial sector is allowed (key material of 24-byte keys ends in one), if the mode
      // can take it: XTS steals ciphertext from 16 bytes on, CBC needs whole blocks.
      int last = len % SECTOR_SIZE;
      if (last != 0 && (xts != null ? last < Xts.BLOCK : last % Xts.BLOCK != 0)) {
        throw new IllegalArgumentException(
            len + " bytes end in a part sector the mode cannot take");
      }
      for (int done = 0; done < len; done += SECTOR_SIZE, sector++) {
        int n = Math.min(SECTOR_SIZE, len - done);
        iv.iv(sector, ivBytes);
        if (xts != null) {
          if (enc) {
            xts.encrypt(buf, off + done, n, ivBytes);
          } else {
            xts.decrypt(buf, off + done, n, ivBytes);
          }
        } else {
          Aes.initCbc(cbc, key, ivBytes, enc);
          Aes.run(cbc, buf, off + done, n);
        }
      }
    }
  }
}
