package dev.qcow2.crypto;

/**
 * The settings of a new LUKS header, under qemu's {@code encrypt.*} names and with qemu's defaults.
 *
 * @param cipherAlg qemu's encrypt.cipher-alg: aes-128, aes-192 or aes-256
 * @param cipherMode qemu's encrypt.cipher-mode: xts or cbc
 * @param ivgenAlg qemu's encrypt.ivgen-alg: plain, plain64 or essiv
 * @param ivgenHashAlg qemu's encrypt.ivgen-hash-alg, the essiv hash, or null for qemu's default
 * @param hashAlg qemu's encrypt.hash-alg, the PBKDF2 and splitter hash: sha1, sha256, sha384 or
 *     sha512
 * @param iterTimeMillis qemu's encrypt.iter-time: milliseconds of PBKDF2 for a key slot
 */
public record LuksOptions(
    String cipherAlg,
    String cipherMode,
    String ivgenAlg,
    String ivgenHashAlg,
    String hashAlg,
    long iterTimeMillis) {
  /**
   * qemu's defaults: aes-256, xts, plain64, sha256, 2000 ms.
   *
   * @return the default options
   */
  public static LuksOptions defaults() {
    return new LuksOptions("aes-256", "xts", "plain64", null, "sha256", 2000);
  }
}
