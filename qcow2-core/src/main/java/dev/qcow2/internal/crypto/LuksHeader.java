package dev.qcow2.internal.crypto;

import dev.qcow2.crypto.LuksException;
import dev.qcow2.crypto.LuksInfo;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A LUKS1 header (on-disk format specification 1.2), parsed and checked, with its key material. All
 * integers are big-endian.
 *
 * <pre>
 *    0   6  magic "LUKS\xba\xbe"        108   4  key-bytes
 *    6   2  version (1)                 112  20  mk-digest
 *    8  32  cipher-name                 132  32  mk-digest-salt
 *   40  32  cipher-mode                 164   4  mk-digest-iter
 *   72  32  hash-spec                   168  40  uuid
 *  104   4  payload-offset (sectors)    208  8 key slots of 48 bytes:
 *                                            active, iterations, salt[32], key-material-offset
 *                                            (sectors), stripes
 * </pre>
 *
 * A slot's key material is key-bytes * stripes bytes at its offset, the anti-forensic split of the
 * master key encrypted with the payload cipher under the key PBKDF2 derives from the passphrase,
 * with sector numbers counted from the material's start.
 */
public final class LuksHeader {
  static final byte[] MAGIC = {'L', 'U', 'K', 'S', (byte) 0xba, (byte) 0xbe};
  static final int CIPHER_NAME_AT = 8;
  static final int CIPHER_MODE_AT = 40;
  static final int HASH_SPEC_AT = 72;
  static final int PAYLOAD_OFFSET_AT = 104;
  static final int KEY_BYTES_AT = 108;
  static final int MK_DIGEST_AT = 112;
  static final int MK_SALT_AT = 132;
  static final int MK_ITER_AT = 164;
  static final int UUID_AT = 168;
  static final int SLOTS_AT = 208;
  static final int SLOT_SIZE = 48;
  static final int SLOTS = 8;
  static final int LENGTH = SLOTS_AT + SLOTS * SLOT_SIZE;
  static final int DIGEST_LENGTH = 20;
  static final int SALT_LENGTH = 32;
  static final int STRIPES = 4000;
  static final int SLOT_ENABLED = 0x00AC71F3;
  static final int SLOT_DISABLED = 0x0000DEAD;

  /** Key material starts after the first 4 KiB, which hold the header (qemu and cryptsetup). */
  static final int KEY_SLOT_OFFSET = 4096;

  /**
   * More PBKDF2 iterations than this are refused, so that a hostile header cannot make an open run
   * for hours: qemu's default two seconds give a few million on current machines.
   */
  static final long MAX_ITERATIONS = 1L << 26;

  final CipherSpec spec;
  final LuksHash hash;
  final long payloadOffsetSectors;
  final int keyBytes;
  final byte[] mkDigest;
  final byte[] mkSalt;
  final long mkIterations;
  final String uuid;
  final List<KeySlot> slots;

  /** The whole header region: header and key material (LuksKeyslots edits it in place). */
  final byte[] region;

  /** A key slot as it lies in the header. */
  record KeySlot(
      int index, boolean active, long iterations, byte[] salt, long offset, int stripes) {
    long materialAt() {
      return offset * SectorCipher.SECTOR_SIZE;
    }
  }

  private LuksHeader(byte[] region) throws LuksException {
    this.region = region;
    ByteBuffer b = ByteBuffer.wrap(region);
    if (region.length < LENGTH) {
      throw LuksErrors.corrupt(
          0, "is truncated: " + region.length + " bytes, " + LENGTH + " expected");
    }
    if (!Arrays.equals(region, 0, 6, MAGIC, 0, 6)) {
      throw LuksErrors.corrupt(0, "has no LUKS magic");
    }
    int version = b.getShort(6) & 0xffff;
    if (version != 1) {
      throw LuksErrors.unsupported(6, "version " + version + " is not supported (1 expected)");
    }
    String cipherName = text(CIPHER_NAME_AT, 32, "cipher-name");
    String cipherMode = text(CIPHER_MODE_AT, 32, "cipher-mode");
    String hashSpec = text(HASH_SPEC_AT, 32, "hash-spec");
    this.keyBytes = b.getInt(KEY_BYTES_AT);
    this.spec = CipherSpec.ofHeader(cipherName, cipherMode, keyBytes);
    this.hash = LuksHash.named(hashSpec, HASH_SPEC_AT);
    this.payloadOffsetSectors = Integer.toUnsignedLong(b.getInt(PAYLOAD_OFFSET_AT));
    this.mkDigest = Arrays.copyOfRange(region, MK_DIGEST_AT, MK_DIGEST_AT + DIGEST_LENGTH);
    this.mkSalt = Arrays.copyOfRange(region, MK_SALT_AT, MK_SALT_AT + SALT_LENGTH);
    this.mkIterations = iterations(b, MK_ITER_AT, "mk-digest-iter");
    this.uuid = text(UUID_AT, 40, "uuid");
    this.slots = readSlots(b);
  }

  /**
   * Parses and checks the header at the start of {@code region}, which holds the key material.
   *
   * @param region the header and its key material
   * @return the header
   * @throws LuksException if a field is bad or names what we do not implement
   */
  public static LuksHeader parse(byte[] region) throws LuksException {
    return new LuksHeader(region);
  }

  private String text(int at, int width, String field) throws LuksException {
    int len = 0;
    while (len < width && region[at + len] != 0) {
      len++;
    }
    if (len == width) {
      throw LuksErrors.corrupt(at, field + " is not NUL-terminated");
    }
    return new String(region, at, len, StandardCharsets.US_ASCII);
  }

  private static long iterations(ByteBuffer b, int at, String field) throws LuksException {
    long n = Integer.toUnsignedLong(b.getInt(at));
    if (n == 0) {
      throw LuksErrors.corrupt(at, field + " is 0");
    }
    if (n > MAX_ITERATIONS) {
      throw LuksErrors.unsupported(at, field + " " + n + " is over the limit of " + MAX_ITERATIONS);
    }
    return n;
  }

  private List<KeySlot> readSlots(ByteBuffer b) throws LuksException {
    long materialBytes = (long) keyBytes * STRIPES;
    List<KeySlot> list = new ArrayList<>();
    for (int i = 0; i < SLOTS; i++) {
      int at = SLOTS_AT + i * SLOT_SIZE;
      int state = b.getInt(at);
      if (state != SLOT_ENABLED && state != SLOT_DISABLED) {
        throw LuksErrors.corrupt(
            at,
            "key slot " + i + " state 0x" + Integer.toHexString(state) + " is neither on nor off");
      }
      boolean active = state == SLOT_ENABLED;
      long iterations = active ? iterations(b, at + 4, "key slot " + i + " iterations") : 0;
      byte[] salt = Arrays.copyOfRange(region, at + 8, at + 8 + SALT_LENGTH);
      long offset = Integer.toUnsignedLong(b.getInt(at + 40));
      int stripes = b.getInt(at + 44);
      if (stripes != STRIPES) {
        throw LuksErrors.corrupt(
            at + 44,
            "key slot "
                + i
                + " stripes "
                + Integer.toUnsignedString(stripes)
                + " is not "
                + STRIPES);
      }
      long start = offset * SectorCipher.SECTOR_SIZE;
      if (start < KEY_SLOT_OFFSET || start + materialBytes > region.length) {
        throw LuksErrors.corrupt(
            at + 40,
            "key slot "
                + i
                + " material at sector "
                + offset
                + " lies outside the header region (bytes "
                + KEY_SLOT_OFFSET
                + " to "
                + region.length
                + ")");
      }
      for (KeySlot other : list) {
        long o = other.materialAt();
        if (start < o + materialBytes && o < start + materialBytes) {
          throw LuksErrors.corrupt(
              at + 40, "key slot " + i + " material overlaps key slot " + other.index());
        }
      }
      list.add(new KeySlot(i, active, iterations, salt, offset, stripes));
    }
    return List.copyOf(list);
  }

  /**
   * The payload cipher under the master key that {@code passphrase} unlocks from a key slot, tried
   * in order as qemu does; the caller wipes the passphrase.
   *
   * @param passphrase the passphrase's bytes
   * @return the payload cipher
   * @throws LuksException of kind INVALID_PASSWORD if no slot opens
   */
  public SectorCipher unlock(byte[] passphrase) throws LuksException {
    byte[] masterKey = masterKey(passphrase);
    try {
      return new SectorCipher(spec, masterKey);
    } finally {
      Arrays.fill(masterKey, (byte) 0);
    }
  }

  /**
   * The master key that {@code passphrase} unlocks from the first key slot it opens (qemu's
   * qcrypto_block_luks_find_key); the caller wipes both.
   */
  byte[] masterKey(byte[] passphrase) throws LuksException {
    for (KeySlot slot : slots) {
      if (slot.active()) {
        byte[] masterKey = tryKeySlot(slot, passphrase);
        if (masterKey != null) {
          return masterKey;
        }
      }
    }
    throw LuksErrors.invalidPassword();
  }

  /** The master key if {@code passphrase} opens {@code slot} (which must be active), else null. */
  byte[] tryKeySlot(KeySlot slot, byte[] passphrase) throws LuksException {
    byte[] slotKey = hash.pbkdf2(passphrase, slot.salt(), slot.iterations(), keyBytes);
    int length = keyBytes * slot.stripes();
    byte[] material =
        Arrays.copyOfRange(region, (int) slot.materialAt(), (int) slot.materialAt() + length);
    SectorCipher slotCipher = new SectorCipher(spec, slotKey);
    slotCipher.decrypt(material, 0, length, 0);
    slotCipher.destroy();
    Arrays.fill(slotKey, (byte) 0);
    byte[] masterKey = AntiForensic.merge(material, keyBytes, slot.stripes(), hash);
    Arrays.fill(material, (byte) 0);
    byte[] digest = hash.pbkdf2(masterKey, mkSalt, mkIterations, DIGEST_LENGTH);
    if (MessageDigest.isEqual(digest, mkDigest)) {
      return masterKey;
    }
    Arrays.fill(masterKey, (byte) 0);
    return null;
  }

  /**
   * What qemu-img info shows of this header.
   *
   * @return the header's algorithms, UUID and slots
   */
  public LuksInfo info() {
    List<LuksInfo.Slot> list = new ArrayList<>();
    for (KeySlot s : slots) {
      list.add(new LuksInfo.Slot(s.active(), s.iterations(), s.materialAt(), s.stripes()));
    }
    return new LuksInfo(
        spec.cipherAlg(),
        spec.mode.text,
        spec.ivgenName,
        spec.ivgenHash == null ? null : spec.ivgenHash.luksName,
        hash.luksName,
        uuid,
        list,
        payloadOffsetSectors * SectorCipher.SECTOR_SIZE,
        mkIterations);
  }
}
