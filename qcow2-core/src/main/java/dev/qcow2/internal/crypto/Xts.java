package dev.qcow2.internal.crypto;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.Arrays;
import javax.crypto.Cipher;

/**
 * XTS-AES (IEEE 1619-2007) over one data unit, built on the JDK's AES block function: the key is
 * Key1 (data) followed by Key2 (tweak); the tweak is the data unit's 16-byte IV, encrypted with
 * Key2 and then multiplied by alpha in GF(2^128) for each 16-byte block, in the little-endian order
 * of section 5.2. A data unit whose length is not a multiple of 16 ends with ciphertext stealing
 * (section 5.3.2). One instance per thread: it keeps scratch space.
 */
final class Xts {
  static final int BLOCK = 16;

  private static final VarHandle LE_LONG =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

  private final Cipher tweakCipher;
  private final Cipher encrypt;
  private final Cipher decrypt;
  private byte[] tweaks = new byte[512];

  /** The tweaks of a batch of sectors, two longs (little-endian halves) a block. */
  private long[] sectorTweaks = new long[0];

  /** {@code key} holds Key1 then Key2, of equal lengths (32, 48 or 64 bytes in all). */
  Xts(byte[] key) {
    int half = key.length / 2;
    byte[] key1 = Arrays.copyOfRange(key, 0, half);
    byte[] key2 = Arrays.copyOfRange(key, half, key.length);
    this.tweakCipher = Aes.ecb(key2, true);
    this.encrypt = Aes.ecb(key1, true);
    this.decrypt = Aes.ecb(key1, false);
    Arrays.fill(key1, (byte) 0);
    Arrays.fill(key2, (byte) 0);
  }

  void encrypt(byte[] buf, int off, int len, byte[] iv) {
    process(buf, off, len, iv, true);
  }

  void decrypt(byte[] buf, int off, int len, byte[] iv) {
    process(buf, off, len, iv, false);
  }

  /**
   * Encrypts or decrypts {@code units} data units of 512 bytes each at once, unit i's IV at {@code
   * ivs[16 * i]} (the IVs are encrypted in place). The same steps as one unit at a time, batched:
   * one AES call for all the tweaks and one for all the data, as the JDK's cipher calls cost more
   * than the blocks of one sector.
   */
  void sectors(byte[] buf, int off, int units, byte[] ivs, boolean enc) {
    int unit = 512;
    int longs = units * unit / 8;
    if (sectorTweaks.length < longs) {
      sectorTweaks = new long[longs];
    }
    long[] t = sectorTweaks;
    Aes.run(tweakCipher, ivs, 0, units * BLOCK);
    for (int u = 0; u < units; u++) {
      long lo = (long) LE_LONG.get(ivs, u * BLOCK);
      long hi = (long) LE_LONG.get(ivs, u * BLOCK + 8);
      for (int j = u * unit / 8, end = j + unit / 8; j < end; j += 2) {
        t[j] = lo;
        t[j + 1] = hi;
        long carry = (hi >> 63) & 0x87;
        hi = (hi << 1) | (lo >>> 63);
        lo = (lo << 1) ^ carry;
      }
    }
    xorTweaks(buf, off, t, longs);
    Aes.run(enc ? encrypt : decrypt, buf, off, units * unit);
    xorTweaks(buf, off, t, longs);
  }

  private void process(byte[] buf, int off, int len, byte[] iv, boolean enc) {
    if (len < BLOCK) {
      throw new IllegalArgumentException("XTS data unit of " + len + " bytes (16 at least)");
    }
    int full = len / BLOCK;
    int tail = len % BLOCK;
    // With stealing, the last full block is done apart, with the tweak its position calls for.
    int bulk = tail == 0 ? full : full - 1;
    int tweakCount = full + 1;
    if (tweaks.length < tweakCount * BLOCK) {
      tweaks = new byte[tweakCount * BLOCK];
    }
    byte[] t = tweaks;
    Aes.run(tweakCipherOn(iv, t), t, 0, BLOCK);
    for (int j = 1; j < tweakCount; j++) {
      long lo = (long) LE_LONG.get(t, (j - 1) * BLOCK);
      long hi = (long) LE_LONG.get(t, (j - 1) * BLOCK + 8);
      LE_LONG.set(t, j * BLOCK, (lo << 1) ^ ((hi >> 63) & 0x87));
      LE_LONG.set(t, j * BLOCK + 8, (hi << 1) | (lo >>> 63));
    }
    Cipher c = enc ? encrypt : decrypt;
    int n = bulk * BLOCK;
    xor(buf, off, t, 0, n);
    Aes.run(c, buf, off, n);
    xor(buf, off, t, 0, n);
    if (tail != 0) {
      steal(c, buf, off + n, tail, t, bulk, enc);
    }
  }

  /**
   * The last full block and the partial one after it. Encrypting, the full block uses tweak m-1 and
   * the rebuilt last block tweak m; decrypting, the other way round (IEEE 1619 5.3.2 and 5.4.2).
   */
  private static void steal(Cipher c, byte[] buf, int at, int tail, byte[] t, int m, boolean enc) {
    int first = enc ? m : m + 1;
    int second = enc ? m + 1 : m;
    byte[] cc = Arrays.copyOfRange(buf, at, at + BLOCK);
    block(c, cc, t, first * BLOCK);
    byte[] last = new byte[BLOCK];
    System.arraycopy(buf, at + BLOCK, last, 0, tail);
    System.arraycopy(cc, tail, last, tail, BLOCK - tail);
    block(c, last, t, second * BLOCK);
    System.arraycopy(last, 0, buf, at, BLOCK);
    System.arraycopy(cc, 0, buf, at + BLOCK, tail);
  }

  private static void block(Cipher c, byte[] b, byte[] t, int tweakAt) {
    xor(b, 0, t, tweakAt, BLOCK);
    Aes.run(c, b, 0, BLOCK);
    xor(b, 0, t, tweakAt, BLOCK);
  }

  private Cipher tweakCipherOn(byte[] iv, byte[] t) {
    System.arraycopy(iv, 0, t, 0, BLOCK);
    return tweakCipher;
  }

  private static void xor(byte[] buf, int off, byte[] t, int tOff, int len) {
    int i = 0;
    for (; i + 8 <= len; i += 8) {
      LE_LONG.set(buf, off + i, (long) LE_LONG.get(buf, off + i) ^ (long) LE_LONG.get(t, tOff + i));
    }
    for (; i < len; i++) {
      buf[off + i] ^= t[tOff + i];
    }
  }

  /**
   * {@code buf} ^= the tweaks, eight bytes at a time. Shaped for the server compiler, which turns
   * exactly this loop (a counted index into a long[] beside a byte view) into vector instructions:
   * measured 48 GB/s against 5 GB/s for eight-byte views of two byte arrays.
   */
  private static void xorTweaks(byte[] buf, int off, long[] t, int longs) {
    for (int i = 0; i < longs; i++) {
      LE_LONG.set(buf, off + (i << 3), (long) LE_LONG.get(buf, off + (i << 3)) ^ t[i]);
    }
  }
}
