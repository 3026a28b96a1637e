package dev.qcow2.internal.crypto;

import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;

/**
 * The LUKS1 anti-forensic splitter (specification section 2.4): a key of n bytes is stored as
 * {@code stripes} blocks of n bytes, all but the last random, the last the key XORed with the
 * diffusion of the others; losing any one block loses the key. Diffusion hashes each digest-sized
 * piece of a block, prefixed by its big-endian 32-bit index, and keeps as many bytes as the piece
 * had.
 */
final class AntiForensic {
  private AntiForensic() {}

  /** The key {@code material} (stripes blocks of keyBytes) holds. */
  static byte[] merge(byte[] material, int keyBytes, int stripes, LuksHash hash) {
    byte[] d = new byte[keyBytes];
    MessageDigest md = hash.digest();
    for (int i = 0; i < stripes - 1; i++) {
      xor(d, material, i * keyBytes);
      diffuse(d, md, hash.digestLength);
    }
    xor(d, material, (stripes - 1) * keyBytes);
    return d;
  }

  /** Splits {@code key} into stripes blocks, the random ones drawn from {@code random}. */
  static byte[] split(byte[] key, int stripes, LuksHash hash, SecureRandom random) {
    int n = key.length;
    byte[] material = new byte[n * stripes];
    random.nextBytes(material);
    byte[] d = new byte[n];
    MessageDigest md = hash.digest();
    for (int i = 0; i < stripes - 1; i++) {
      xor(d, material, i * n);
      diffuse(d, md, hash.digestLength);
    }
    for (int k = 0; k < n; k++) {
      material[(stripes - 1) * n + k] = (byte) (d[k] ^ key[k]);
    }
    Arrays.fill(d, (byte) 0);
    return material;
  }

  private static void xor(byte[] d, byte[] src, int at) {
    for (int k = 0; k < d.length; k++) {
      d[k] ^= src[at + k];
    }
  }

  private static void diffuse(byte[] d, MessageDigest md, int digestLength) {
    byte[] index = new byte[4];
    for (int i = 0, at = 0; at < d.length; i++, at += digestLength) {
      int len = Math.min(digestLength, d.length - at);
      index[0] = (byte) (i >>> 24);
      index[1] = (byte) (i >>> 16);
      index[2] = (byte) (i >>> 8);
      index[3] = (byte) i;
      md.update(index);
      md.update(d, at, len);
      byte[] h = md.digest();
      System.arraycopy(h, 0, d, at, len);
    }
  }
}
