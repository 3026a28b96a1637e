package dev.qcow2.crypto;

import java.util.List;

/**
 * What qemu-img info shows of a LUKS header, under qemu's names: readable without the passphrase.
 *
 * @param cipherAlg e.g. "aes-256"
 * @param cipherMode e.g. "xts"
 * @param ivgenAlg e.g. "plain64"
 * @param ivgenHashAlg the essiv hash, or null
 * @param hashAlg the PBKDF2 and anti-forensic hash, e.g. "sha256"
 * @param payloadOffset bytes, as the header has it
 */
public record LuksInfo(
    String cipherAlg,
    String cipherMode,
    String ivgenAlg,
    String ivgenHashAlg,
    String hashAlg,
    String uuid,
    List<Slot> slots,
    long payloadOffset,
    long masterKeyIters) {

  /**
   * Copies the slot list.
   *
   * @param cipherAlg the cipher, as qemu names it (e.g. "aes-256")
   * @param cipherMode "xts" or "cbc"
   * @param ivgenAlg the IV generator ("plain64", "plain", "essiv")
   * @param ivgenHashAlg the essiv hash, or null
   * @param hashAlg the PBKDF2 and anti-forensic hash
   * @param uuid the LUKS UUID
   * @param slots the eight key slots in order
   * @param payloadOffset where the payload would start in a plain LUKS device, in bytes
   * @param masterKeyIters the PBKDF2 iterations of the master key digest
   */
  public LuksInfo {
    slots = List.copyOf(slots);
  }

  /**
   * One key slot.
   *
   * @param iters PBKDF2 iterations (qemu shows them, and stripes, only for active slots)
   * @param keyOffset bytes from the start of the LUKS header
   */
  public record Slot(boolean active, long iters, long keyOffset, long stripes) {}
}
