package dev.qcow2.internal.crypto;

import dev.qcow2.crypto.LuksAmendOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Adds and erases LUKS1 key slots as qemu-img amend does (qemu's crypto/block-luks.c, amend add and
 * erase keyslots), with qemu's rules and messages.
 *
 * <p>Crash ordering. Adding writes the new key material into the slot's (inactive) area and makes
 * it durable before the header marks the slot active, so a power cut leaves either the old header
 * (the slot still off, every other slot as it was) or the new one over complete material; qemu
 * writes in the same order but without the flush between. Erasing marks the slot off in the header
 * and makes that durable before the material is overwritten (qemu's order), so a cut never leaves
 * an active slot over half-wiped material that no passphrase opens. Overwriting an active slot
 * (allowed only with force, as in qemu) has no safe order: a cut between the two writes loses that
 * slot's old passphrase.
 */
public final class LuksKeyslots {
  /** qemu's QCRYPTO_BLOCK_LUKS_ERASE_ITERATIONS: passes of random data over erased material. */
  static final int ERASE_PASSES = 40;

  /** qemu's default encrypt.iter-time for a new key slot. */
  static final long DEFAULT_ITER_TIME_MILLIS = 2000;

  /** Where the header region's changes go: positions are within the region. */
  public interface RegionWriter {
    /**
     * Writes {@code length} bytes of {@code bytes} from {@code from} at {@code at} in the region.
     *
     * @param at the offset in the LUKS header region
     * @param bytes the source
     * @param from the first byte of {@code bytes} to write
     * @param length how many bytes
     * @throws IOException if the write fails
     */
    void write(int at, byte[] bytes, int from, int length) throws IOException;

    /**
     * Makes the writes so far durable.
     *
     * @throws IOException if they cannot be
     */
    void flush() throws IOException;
  }

  private final LuksHeader header;
  private final RegionWriter out;
  private final boolean force;
  private final SecureRandom random = new SecureRandom();

  private LuksKeyslots(LuksHeader header, RegionWriter out, boolean force) {
    this.header = header;
    this.out = out;
    this.force = force;
  }

  /**
   * Applies {@code o} to {@code header}, whose region it edits in place, writing each change
   * through {@code out}. {@code keySecret} (the image's passphrase) unlocks the master key that a
   * new slot stores; the caller wipes it.
   *
   * @param header the image's LUKS header, freshly read
   * @param o the change
   * @param keySecret the passphrase the image was opened with
   * @param force qemu-img amend --force: overwrite an active slot, erase an inactive or the last
   *     one
   * @param out where the changed bytes go
   * @throws IllegalArgumentException if qemu refuses the change, with its message
   * @throws IOException if the passphrase opens no slot, or a write fails
   */
  public static void amend(
      LuksHeader header, LuksAmendOptions o, byte[] keySecret, boolean force, RegionWriter out)
      throws IOException {
    if (o.state() == null) {
      throw new IllegalArgumentException("Parameter 'state' is missing");
    }
    LuksKeyslots k = new LuksKeyslots(header, out, force);
    if (o.state() == LuksAmendOptions.State.ACTIVE) {
      k.add(o, keySecret);
    } else {
      k.erase(o);
    }
  }

  private void add(LuksAmendOptions o, byte[] keySecret) throws IOException {
    byte[] newSecret = o.newSecret();
    byte[] oldSecret = o.oldSecret();
    try {
      if (newSecret == null) {
        throw new IllegalArgumentException("'new-secret' is required to activate a keyslot");
      }
      if (oldSecret != null) {
        throw new IllegalArgumentException(
            "'old-secret' must not be given when activating keyslots");
      }
      int slot;
      if (o.keyslot() != null) {
        slot = o.keyslot();
        if (slot < 0 || slot >= LuksHeader.SLOTS) {
          // qemu prints the slot with %u here and with %i when erasing.
          throw new IllegalArgumentException(
              "Invalid keyslot "
                  + Integer.toUnsignedString(slot)
                  + " specified, must be between 0 and "
                  + (LuksHeader.SLOTS - 1));
        }
      } else {
        slot = firstFree();
      }
      if (!force && header.slots.get(slot).active()) {
        throw new IllegalArgumentException(
            "Refusing to overwrite active keyslot " + slot + " - please erase it first");
      }
      long iterTime = o.iterTimeMillis() != null ? o.iterTimeMillis() : DEFAULT_ITER_TIME_MILLIS;
      byte[] masterKey = header.masterKey(keySecret);
      try {
        store(header.slots.get(slot), newSecret, masterKey, iterTime);
      } finally {
        Arrays.fill(masterKey, (byte) 0);
      }
    } finally {
      wipe(newSecret);
      wipe(oldSecret);
    }
  }

  private int firstFree() {
    for (LuksHeader.KeySlot s : header.slots) {
      if (!s.active()) {
        return s.index();
      }
    }
    throw new IllegalArgumentException("Can't add a keyslot - all keyslots are in use");
  }

  /** qemu's qcrypto_block_luks_store_key: material first (durable), then the slot turned on. */
  private void store(LuksHeader.KeySlot slot, byte[] passphrase, byte[] masterKey, long iterTime)
      throws IOException {
    byte[] salt = LuksFormatter.salt(random);
    int keyBytes = header.keyBytes;
    long iterations =
        LuksFormatter.slotIterations(header.hash, passphrase, salt, keyBytes, iterTime);
    byte[] slotKey = header.hash.pbkdf2(passphrase, salt, iterations, keyBytes);
    byte[] material = AntiForensic.split(masterKey, slot.stripes(), header.hash, random);
    try {
      SectorCipher slotCipher = new SectorCipher(header.spec, slotKey);
      slotCipher.encrypt(material, 0, material.length, 0);
      slotCipher.destroy();
      out.write((int) slot.materialAt(), material, 0, material.length);
      out.flush();
    } finally {
      Arrays.fill(slotKey, (byte) 0);
      Arrays.fill(material, (byte) 0);
    }
    putSlot(slot.index(), LuksHeader.SLOT_ENABLED, iterations, salt);
  }

  private void erase(LuksAmendOptions o) throws IOException {
    byte[] newSecret = o.newSecret();
    byte[] oldSecret = o.oldSecret();
    try {
      if (newSecret != null) {
        throw new IllegalArgumentException("'new-secret' must not be given when erasing keyslots");
      }
      if (o.iterTimeMillis() != null) {
        throw new IllegalArgumentException("'iter-time' must not be given when erasing keyslots");
      }
      if (o.keyslot() != null) {
        eraseOne(o.keyslot(), oldSecret);
      } else if (oldSecret != null) {
        eraseMatching(oldSecret);
      } else {
        throw new IllegalArgumentException(
            "To erase keyslot(s), either explicit keyslot index or the password currently"
                + " contained in them must be given");
      }
    } finally {
      wipe(newSecret);
      wipe(oldSecret);
    }
  }

  private void eraseOne(int slot, byte[] oldSecret) throws IOException {
    if (slot < 0 || slot >= LuksHeader.SLOTS) {
      throw new IllegalArgumentException(
          "Invalid keyslot "
              + slot
              + " specified, must be between 0 and "
              + (LuksHeader.SLOTS - 1));
    }
    LuksHeader.KeySlot s = header.slots.get(slot);
    if (oldSecret != null && !opens(s, oldSecret)) {
      throw new IllegalArgumentException(
          "Given keyslot " + slot + " doesn't contain the given old password for erase operation");
    }
    if (!force && !s.active()) {
      // qemu's message ends with a space.
      throw new IllegalArgumentException(
          "Given keyslot " + slot + " is already erased (inactive) ");
    }
    if (!force && activeCount() == 1) {
      throw new IllegalArgumentException(
          "Attempt to erase the only active keyslot "
              + slot
              + " which will erase all the data in the image irreversibly - refusing operation");
    }
    wipeSlot(s);
  }

  private void eraseMatching(byte[] oldSecret) throws IOException {
    List<LuksHeader.KeySlot> matching = new ArrayList<>();
    for (LuksHeader.KeySlot s : header.slots) {
      if (opens(s, oldSecret)) {
        matching.add(s);
      }
    }
    if (matching.isEmpty()) {
      throw new IllegalArgumentException(
          "No keyslots match given (old) password for erase operation");
    }
    if (!force && matching.size() == activeCount()) {
      throw new IllegalArgumentException(
          "All the active keyslots match the (old) password that was given and erasing them will"
              + " erase all the data in the image irreversibly - refusing operation");
    }
    for (LuksHeader.KeySlot s : matching) {
      wipeSlot(s);
    }
  }

  private boolean opens(LuksHeader.KeySlot s, byte[] passphrase) throws IOException {
    if (!s.active()) {
      return false;
    }
    byte[] key = header.tryKeySlot(s, passphrase);
    if (key == null) {
      return false;
    }
    Arrays.fill(key, (byte) 0);
    return true;
  }

  private int activeCount() {
    int n = 0;
    for (LuksHeader.KeySlot s : header.slots) {
      n += s.active() ? 1 : 0;
    }
    return n;
  }

  /**
   * qemu's qcrypto_block_luks_erase_key: the slot turned off (salt and iterations zeroed) and made
   * durable, then its material overwritten with random data, qemu's forty passes. Through a page
   * cache only the last pass is sure to reach the disk, as with qemu.
   */
  private void wipeSlot(LuksHeader.KeySlot s) throws IOException {
    putSlot(s.index(), LuksHeader.SLOT_DISABLED, 0, new byte[LuksHeader.SALT_LENGTH]);
    byte[] garbage = new byte[header.keyBytes * s.stripes()];
    for (int pass = 0; pass < ERASE_PASSES; pass++) {
      random.nextBytes(garbage);
      out.write((int) s.materialAt(), garbage, 0, garbage.length);
    }
    out.flush();
  }

  /** Sets a slot's state, iterations and salt, and writes the header, made durable. */
  private void putSlot(int index, int state, long iterations, byte[] salt) throws IOException {
    int at = LuksHeader.SLOTS_AT + index * LuksHeader.SLOT_SIZE;
    ByteBuffer.wrap(header.region)
        .putInt(at, state)
        .putInt(at + 4, (int) iterations)
        .put(at + 8, salt);
    out.write(0, header.region, 0, LuksHeader.LENGTH);
    out.flush();
  }

  private static void wipe(byte[] b) {
    if (b != null) {
      Arrays.fill(b, (byte) 0);
    }
  }
}
