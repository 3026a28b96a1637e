package dev.qcow2.internal.crypto;

import dev.qcow2.crypto.LuksException;
import java.security.DigestException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.stream.IntStream;

/**
 * The hashes a LUKS1 header may name in hash-spec (and for essiv), by their LUKS and qemu names,
 * with PBKDF2 (RFC 8018) over HMAC of each. PBKDF2 is done here rather than through the JDK's
 * SecretKeyFactory, which takes the password as chars and re-encodes it: LUKS passphrases are
 * bytes, and the master key digest runs PBKDF2 over the binary master key.
 */
enum LuksHash {
  SHA1("sha1", "SHA-1", 20, 64),
  SHA224("sha224", "SHA-224", 28, 64),
  SHA256("sha256", "SHA-256", 32, 64),
  SHA384("sha384", "SHA-384", 48, 128),
  SHA512("sha512", "SHA-512", 64, 128);

  /** qemu's hash names that the JDK has no implementation of. */
  private static final java.util.List<String> MISSING =
      java.util.List.of("ripemd160", "md5", "sm3");

  final String luksName;
  final String jdkName;
  final int digestLength;

  /** The hash's input block: HMAC pads its key to this length. */
  final int blockLength;

  LuksHash(String luksName, String jdkName, int digestLength, int blockLength) {
    this.luksName = luksName;
    this.jdkName = jdkName;
    this.digestLength = digestLength;
    this.blockLength = blockLength;
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

  /**
   * PBKDF2 with HMAC of this hash: {@code length} bytes derived from the password and salt.
   *
   * <p>Every unlock runs it for as long as the header's maker chose (qemu: 2 s by default), so it
   * is written for speed: the hash states after HMAC's inner and outer key blocks are computed once
   * and copied for each iteration, two hash blocks an iteration instead of the four of a {@code
   * javax.crypto.Mac} that starts over; and the output's blocks, independent of each other, are
   * derived in parallel (a 64-byte XTS key is two SHA-256 blocks, four SHA-1 ones).
   */
  byte[] pbkdf2(byte[] password, byte[] salt, long iterations, int length) {
    int h = digestLength;
    byte[] out = new byte[length];
    MessageDigest[] pads = hmacPads(password);
    int blocks = (length + h - 1) / h;
    IntStream each = IntStream.rangeClosed(1, blocks);
    if (blocks > 1 && iterations >= 1000) {
      each = each.parallel();
    }
    each.forEach(
        block -> {
          byte[] t = pbkdf2Block(pads, salt, iterations, block);
          int done = (block - 1) * h;
          System.arraycopy(t, 0, out, done, Math.min(h, length - done));
          Arrays.fill(t, (byte) 0);
        });
    return out;
  }

  /** The hash states after HMAC's inner (ipad) and outer (opad) blocks of {@code key}. */
  private MessageDigest[] hmacPads(byte[] key) {
    byte[] k = key.length > blockLength ? digest().digest(key) : key;
    byte[] ipad = new byte[blockLength];
    byte[] opad = new byte[blockLength];
    for (int i = 0; i < blockLength; i++) {
      byte b = i < k.length ? k[i] : 0;
      ipad[i] = (byte) (b ^ 0x36);
      opad[i] = (byte) (b ^ 0x5c);
    }
    MessageDigest inner = digest();
    MessageDigest outer = digest();
    inner.update(ipad);
    outer.update(opad);
    Arrays.fill(ipad, (byte) 0);
    Arrays.fill(opad, (byte) 0);
    if (k != key) {
      Arrays.fill(k, (byte) 0);
    }
    return new MessageDigest[] {inner, outer};
  }

  /** T_block of RFC 8018 5.2: U_1 xor ... xor U_iterations. */
  private byte[] pbkdf2Block(MessageDigest[] pads, byte[] salt, long iterations, int block) {
    byte[] index = {
      (byte) (block >>> 24), (byte) (block >>> 16), (byte) (block >>> 8), (byte) block
    };
    byte[] u = new byte[digestLength];
    MessageDigest inner = copy(pads[0]);
    inner.update(salt);
    inner.update(index);
    hmacFinish(inner, pads[1], u);
    byte[] t = u.clone();
    for (long i = 1; i < iterations; i++) {
      inner = copy(pads[0]);
      inner.update(u);
      hmacFinish(inner, pads[1], u);
      for (int k = 0; k < u.length; k++) {
        t[k] ^= u[k];
      }
    }
    Arrays.fill(u, (byte) 0);
    return t;
  }

  /** HMAC's last steps: the inner hash into {@code u}, then the outer hash of it into {@code u}. */
  private static void hmacFinish(MessageDigest inner, MessageDigest outerPad, byte[] u) {
    try {
      inner.digest(u, 0, u.length);
      MessageDigest outer = copy(outerPad);
      outer.update(u);
      outer.digest(u, 0, u.length);
    } catch (DigestException e) {
      throw new IllegalStateException(e);
    }
  }

  private static MessageDigest copy(MessageDigest state) {
    try {
      return (MessageDigest) state.clone();
    } catch (CloneNotSupportedException e) {
      throw new IllegalStateException("the JDK's " + state.getAlgorithm() + " cannot be copied", e);
    }
  }
}
