package dev.qcow2;

import dev.qcow2.crypto.LuksAmendOptions;
import dev.qcow2.crypto.LuksException;
import dev.qcow2.crypto.LuksInfo;
import dev.qcow2.internal.crypto.LuksFormatter;
import dev.qcow2.internal.crypto.LuksHeader;
import dev.qcow2.internal.crypto.LuksKeyslots;
import dev.qcow2.internal.crypto.SectorCipher;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * A LUKS-encrypted image (crypt_method 2): the LUKS header lies in the clusters that the full disk
 * encryption header extension names, and every data cluster is encrypted in 512-byte sectors
 * numbered by their host offset, as qemu does for LUKS (its crypt_physical_offset; the legacy AES
 * method, crypt_method 1, uses the guest offset and is read but never written here). Compressed
 * clusters are never encrypted: qemu refuses to write them in an encrypted image and reads them as
 * they are.
 *
 * <pre>
 *  extension 0x0537be77:  0  8  offset of the LUKS header (cluster-aligned)
 *                         8  8  length of the LUKS header and its key material
 * </pre>
 */
final class ImageEncryption {
  static final int LEGACY_AES = 1;
  static final int LUKS = 2;

  /** Eight key slots of 64-byte keys take 2 MiB; a header region this large is refused. */
  static final long MAX_REGION_BYTES = 16L << 20;

  /** qemu's words when an encrypted image is read or written without its passphrase. */
  static final String NO_SECRET = "Parameter 'encrypt.key-secret' is required for cipher";

  private final String image;

  /** The LUKS header, or null for the legacy AES method. */
  private final LuksHeader header;

  private final SectorCipher cipher;

  private ImageEncryption(String image, LuksHeader header, SectorCipher cipher) {
    this.image = image;
    this.header = header;
    this.cipher = cipher;
  }

  private boolean legacy() {
    return header == null;
  }

  /** Where the LUKS header lies in the image file. */
  record Region(long offset, long length) {}

  /** The region the header extension names, unchecked; null if the image is not LUKS-encrypted. */
  static Region region(Header h) {
    HeaderExtension ext = h.extension(HeaderExtension.FULL_DISK_ENCRYPTION);
    if (h.cryptMethod() != LUKS || ext == null || ext.data().length < 16) {
      return null;
    }
    ByteBuffer d = ByteBuffer.wrap(ext.data());
    return new Region(d.getLong(0), d.getLong(8));
  }

  /**
   * The image's encryption, unlocked with the passphrase in {@code options} if there is one; null
   * for an image that is not encrypted. Without a passphrase the header is still read (info shows
   * it), and data reads and writes fail as qemu's do.
   */
  static ImageEncryption open(String name, Storage storage, Header h, OpenOptions options)
      throws IOException {
    if (h.cryptMethod() != LUKS && h.cryptMethod() != LEGACY_AES) {
      return null;
    }
    LuksHeader header = h.cryptMethod() == LUKS ? readHeader(name, storage, h) : null;
    byte[] passphrase = options.encryptionKey();
    if (passphrase == null) {
      return new ImageEncryption(name, header, null);
    }
    try {
      return new ImageEncryption(
          name,
          header,
          header == null ? SectorCipher.qcowAes(passphrase) : header.unlock(passphrase));
    } finally {
      Arrays.fill(passphrase, (byte) 0);
    }
  }

  /** The checked LUKS header of a crypt_method 2 image. */
  static LuksHeader readHeader(String name, Storage storage, Header h) throws IOException {
    HeaderExtension ext = h.extension(HeaderExtension.FULL_DISK_ENCRYPTION);
    Region r = region(h);
    if (r == null) {
      throw new CorruptImageException(
          name,
          Structure.ENCRYPTION_HEADER,
          32,
          "is missing: crypt_method is 2 (luks) but no full disk encryption header extension"
              + " (16 bytes) names it");
    }
    long fileSize = storage.size();
    if (r.offset() <= 0
        || (r.offset() & (h.clusterSize() - 1)) != 0
        || r.length() <= 0
        || r.length() > MAX_REGION_BYTES
        || r.offset() > fileSize - r.length()) {
      throw new CorruptImageException(
          name,
          Structure.ENCRYPTION_HEADER,
          ext.hostOffset() + 8,
          "at 0x"
              + Long.toHexString(r.offset())
              + " with "
              + r.length()
              + " bytes is not cluster-aligned, lies outside the file ("
              + fileSize
              + " bytes) or is over "
              + MAX_REGION_BYTES
              + " bytes");
    }
    byte[] region = new byte[(int) r.length()];
    storage.readOrZero(ByteBuffer.wrap(region), r.offset());
    try {
      return LuksHeader.parse(region);
    } catch (LuksException e) {
      throw typed(name, r.offset(), e);
    }
  }

  /** A LUKS problem as the image's typed error, at its offset in the image file. */
  private static IOException typed(String name, long regionOffset, LuksException e) {
    long at = e.offset() >= 0 ? regionOffset + e.offset() : regionOffset;
    return switch (e.kind()) {
      case CORRUPT -> new CorruptImageException(name, Structure.ENCRYPTION_HEADER, at, e.problem());
      case UNSUPPORTED ->
          new UnsupportedImageException(name, Structure.ENCRYPTION_HEADER, at, e.problem());
      case INVALID_PASSWORD -> e;
    };
  }

  /** What info shows of the LUKS header; null for the legacy AES method. */
  LuksInfo info() {
    return header == null ? null : header.info();
  }

  /** Refuses a write: without the passphrase, or to a legacy AES image, which is never written. */
  void checkWritable() throws IOException {
    if (legacy()) {
      throw new UnsupportedImageException(
          image,
          Structure.HEADER,
          32,
          "uses the legacy AES encryption (crypt_method 1), which is read but never written");
    }
    cipher();
  }

  /** The unlocked cipher; refused in qemu's words when the image was opened without a key. */
  SectorCipher cipher() throws IOException {
    if (cipher == null) {
      throw new UnsupportedImageException(
          image, Structure.ENCRYPTION_HEADER, -1, "needs a passphrase: " + NO_SECRET);
    }
    return cipher;
  }

  /**
   * Reads and decrypts the guest data at {@code guest}, which lies at {@code host} in {@code
   * storage}, into {@code dst}.
   */
  void read(Storage storage, ByteBuffer dst, long host, long guest) throws IOException {
    SectorCipher c = cipher();
    int n = dst.remaining();
    long start = host & -SectorCipher.SECTOR_SIZE;
    long end = (host + n + SectorCipher.SECTOR_SIZE - 1) & -SectorCipher.SECTOR_SIZE;
    // Clusters are sector-aligned in both spaces, so the guest and host offsets share a sector.
    long first = legacy() ? guest - (host - start) : start;
    SectorRuns.readDecrypted(c, storage, start, end, host, first / SectorCipher.SECTOR_SIZE, dst);
  }

  /**
   * {@code src} (whole sectors, not consumed) encrypted for {@code host}, in a new buffer: the
   * caller's data stays as it was.
   */
  ByteBuffer encrypt(ByteBuffer src, long host) throws IOException {
    SectorCipher c = cipher();
    if ((host & (SectorCipher.SECTOR_SIZE - 1)) != 0
        || (src.remaining() & (SectorCipher.SECTOR_SIZE - 1)) != 0) {
      throw new IllegalStateException(
          "encrypted write of "
              + src.remaining()
              + " bytes at 0x"
              + Long.toHexString(host)
              + " is not in whole sectors");
    }
    byte[] b = new byte[src.remaining()];
    src.duplicate().get(b);
    SectorRuns.encrypt(c, b, host / SectorCipher.SECTOR_SIZE);
    return ByteBuffer.wrap(b);
  }

  /**
   * A new LUKS header region for an image created with {@code options}, under the passphrase in
   * {@code openOptions}; null if the image is not to be encrypted.
   */
  static byte[] format(String name, CreateOptions options, OpenOptions openOptions)
      throws IOException {
    if (options.encryption() == null) {
      return null;
    }
    byte[] passphrase = openOptions.encryptionKey();
    if (passphrase == null) {
      throw new IllegalArgumentException(name + ": " + NO_SECRET);
    }
    try {
      LuksFormatter.Formatted f = LuksFormatter.format(options.encryption(), passphrase);
      f.cipher().destroy();
      return f.region();
    } finally {
      Arrays.fill(passphrase, (byte) 0);
    }
  }

  /**
   * qemu-img amend's key slot change {@code o} on the image's LUKS header, unlocked with {@code
   * keySecret} (wiped here), written in place in the header region; qemu's refusals are {@link
   * IllegalArgumentException}s naming the image.
   */
  static void amendKeySlots(
      String name, Storage storage, Header h, LuksAmendOptions o, byte[] keySecret, boolean force)
      throws IOException {
    try {
      if (h.cryptMethod() != LUKS) {
        throw new IllegalArgumentException(
            name
                + ": "
                + (h.cryptMethod() == LEGACY_AES
                    ? "Only LUKS encryption options can be amended"
                    : "Can't amend encryption options - encryption not present"));
      }
      if (keySecret == null) {
        throw new IllegalArgumentException(name + ": " + NO_SECRET);
      }
      LuksHeader header = readHeader(name, storage, h);
      long base = region(h).offset();
      LuksKeyslots.RegionWriter out =
          new LuksKeyslots.RegionWriter() {
            @Override
            public void write(int at, byte[] bytes, int from, int length) throws IOException {
              storage.write(ByteBuffer.wrap(bytes, from, length), base + at);
            }

            @Override
            public void flush() throws IOException {
              storage.force();
            }
          };
      try {
        LuksKeyslots.amend(header, o, keySecret, force, out);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(name + ": " + e.getMessage(), e);
      }
    } finally {
      if (keySecret != null) {
        Arrays.fill(keySecret, (byte) 0);
      }
    }
  }

  /** qemu stores no compressed cluster in an encrypted image: they would not be encrypted. */
  static void refuseCompression(String name, ImageEncryption encryption)
      throws UnsupportedImageException {
    if (encryption != null) {
      throw new UnsupportedImageException(
          name,
          Structure.ENCRYPTION_HEADER,
          -1,
          "is there: Compression and encryption not supported at the same time");
    }
  }

  /** Forgets the master key. */
  void close() {
    if (cipher != null) {
      cipher.destroy();
    }
  }
}
