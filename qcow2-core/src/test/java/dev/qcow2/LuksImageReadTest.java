package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.crypto.LuksException;
import dev.qcow2.testing.LuksQemu;
import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * LUKS-encrypted qcow2 images that qemu made (encrypt.format=luks): we read the guest content qemu
 * decrypts, refuse a wrong or missing passphrase in qemu's words, and name a damaged header.
 */
@Timeout(120)
class LuksImageReadTest {
  static final String PASS = "correct horse";

  @TempDir Path dir;

  static String secret() {
    return "secret,id=sec0,data=" + PASS;
  }

  static String imageOpts(String file) {
    return "driver=qcow2,file.filename=" + file + ",encrypt.key-secret=sec0";
  }

  static OpenOptions withKey() {
    return OpenOptions.builder().encryptionKey(PASS.getBytes(StandardCharsets.UTF_8)).build();
  }

  /** A 4 MiB image that qemu encrypted, written in whole and partial clusters by qemu-io. */
  static void qemuImage(Path dir, String name, String encryptOptions) {
    LuksQemu.create(
        dir,
        "-f",
        "qcow2",
        "--object",
        secret(),
        "-o",
        "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10,cluster_size=4096"
            + encryptOptions,
        name,
        "4M");
    Qemu.run(
        dir,
        "qemu-io",
        "--object",
        secret(),
        "--image-opts",
        imageOpts(name),
        "-c",
        "write -P 0x11 1M 64k",
        "-c",
        "write -P 0x22 0 1000",
        "-c",
        "write -P 0x33 70000 3",
        "-c",
        "write -P 0x44 3M 8k",
        "-c",
        "write -P 0x55 12k 4k",
        "-c",
        // A megabyte in one write: host-contiguous, so one read decrypts it in parallel pieces.
        "write -P 0x66 1536k 1M");
  }

  static byte[] qemuRaw(Path dir, String name) throws IOException {
    Qemu.img(
        dir,
        "convert",
        "--object",
        secret(),
        "--image-opts",
        imageOpts(name),
        "-O",
        "raw",
        name + ".raw");
    return Files.readAllBytes(dir.resolve(name + ".raw"));
  }

  static byte[] ourRead(Path file, OpenOptions options) throws IOException {
    try (DiskImage img = DiskImage.open(file, options)) {
      ByteBuffer all = ByteBuffer.allocate((int) img.size());
      // Odd pieces, so reads start and end inside sectors and clusters.
      for (int at = 0; at < all.capacity(); ) {
        int n = Math.min(777 + (at % 5000), all.capacity() - at);
        img.readFully(all.slice(at, n), at);
        at += n;
      }
      return all.array();
    }
  }

  @Test
  void reads_what_qemu_encrypted() throws Exception {
    qemuImage(dir, "q.qcow2", "");
    byte[] expected = qemuRaw(dir, "q.qcow2");
    assertEquals(0x22, expected[0]);
    assertArrayEquals(expected, ourRead(dir.resolve("q.qcow2"), withKey()));
  }

  @Test
  void reads_what_qemu_encrypted_in_one_read_of_the_whole_disk() throws Exception {
    qemuImage(dir, "q.qcow2", "");
    byte[] expected = qemuRaw(dir, "q.qcow2");
    try (DiskImage img = DiskImage.open(dir.resolve("q.qcow2"), withKey())) {
      ByteBuffer all = ByteBuffer.allocateDirect((int) img.size());
      img.readFully(all, 0);
      byte[] ours = new byte[all.capacity()];
      all.flip().get(ours);
      assertArrayEquals(expected, ours);
    }
  }

  @Test
  void closing_forgets_the_master_key() throws Exception {
    qemuImage(dir, "q.qcow2", "");
    dev.qcow2.internal.crypto.SectorCipher cipher;
    try (Qcow2Image img = Qcow2Image.open(dir.resolve("q.qcow2"), withKey())) {
      img.readFully(ByteBuffer.allocate(4096), 1 << 20);
      cipher = img.reader().encryption.cipher();
      assertTrue(!cipher.destroyed());
    }
    assertTrue(cipher.destroyed());
    // A sector that reaches the cipher after the close is refused, never decrypted under a wiped
    // key.
    assertThrows(IllegalStateException.class, () -> cipher.decrypt(new byte[512], 0, 512, 0));
  }

  @Test
  void reads_the_legacy_aes_method_by_guest_offset_and_never_writes_it() throws Exception {
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "--object",
        secret(),
        "-o",
        "encrypt.format=aes,encrypt.key-secret=sec0,cluster_size=4096",
        "a.qcow2",
        "4M");
    Qemu.run(
        dir,
        "qemu-io",
        "--object",
        secret(),
        "--image-opts",
        imageOpts("a.qcow2"),
        "-c",
        "write -P 0x11 1M 64k",
        "-c",
        "write -P 0x22 0 1000",
        "-c",
        "write -P 0x33 70000 3",
        "-c",
        "write -P 0x44 2M 1M");
    byte[] expected = qemuRaw(dir, "a.qcow2");
    assertEquals(0x22, expected[0]);
    assertArrayEquals(expected, ourRead(dir.resolve("a.qcow2"), withKey()));
    try (DiskImage img = DiskImage.open(dir.resolve("a.qcow2"), withKey())) {
      ByteBuffer all = ByteBuffer.allocate((int) img.size());
      img.readFully(all, 0);
      assertArrayEquals(expected, all.array());
    }
    byte[] before = Files.readAllBytes(dir.resolve("a.qcow2"));
    try (Qcow2Image img =
        Qcow2Image.open(dir.resolve("a.qcow2"), withKey().toBuilder().writable(true).build())) {
      UnsupportedImageException e =
          assertThrows(
              UnsupportedImageException.class, () -> img.write(ByteBuffer.allocate(512), 0));
      assertTrue(e.getMessage().contains("read but never written"), e.getMessage());
    }
    assertArrayEquals(before, Files.readAllBytes(dir.resolve("a.qcow2")));
  }

  @Test
  void the_encryption_header_is_counted_as_used() throws Exception {
    qemuImage(dir, "q.qcow2", "");
    CheckReport r = ImageChecker.check(dir.resolve("q.qcow2"), ImageChecker.Repair.NONE);
    assertEquals(0, r.corruptions(), r.messages().toString());
    assertEquals(0, r.leaks(), r.messages().toString());
  }

  @Test
  void a_wrong_passphrase_is_one_line_in_qemus_words() throws Exception {
    qemuImage(dir, "q.qcow2", "");
    OpenOptions wrong = OpenOptions.builder().encryptionKey("wrong".getBytes()).build();
    LuksException e =
        assertThrows(LuksException.class, () -> DiskImage.open(dir.resolve("q.qcow2"), wrong));
    assertEquals("Invalid password, cannot unlock any keyslot", e.getMessage());
  }

  @Test
  void without_a_passphrase_the_header_opens_but_data_does_not() throws Exception {
    qemuImage(dir, "q.qcow2", "");
    try (DiskImage img = DiskImage.open(dir.resolve("q.qcow2"))) {
      IOException e = assertThrows(IOException.class, () -> img.read(ByteBuffer.allocate(512), 0));
      assertTrue(
          e.getMessage().contains("Parameter 'encrypt.key-secret' is required for cipher"),
          e.getMessage());
      // Unallocated clusters need no key.
      ByteBuffer b = ByteBuffer.allocate(512);
      img.read(b, 2816L << 10);
      assertArrayEquals(new byte[512], b.array());
    }
  }

  @Test
  void a_damaged_luks_header_is_a_typed_error_at_its_offset() throws Exception {
    qemuImage(dir, "q.qcow2", "");
    long luks = luksOffset(dir.resolve("q.qcow2"));
    poke(dir.resolve("q.qcow2"), luks + 208 + 44, new byte[] {0, 0, 0, 9});
    CorruptImageException e =
        assertThrows(
            CorruptImageException.class, () -> DiskImage.open(dir.resolve("q.qcow2"), withKey()));
    assertEquals(Structure.ENCRYPTION_HEADER, e.structure());
    assertEquals(luks + 208 + 44, e.offset());
    assertTrue(e.getMessage().contains("key slot 0 stripes 9 is not 4000"), e.getMessage());
  }

  @Test
  void an_encryption_header_outside_the_file_is_a_typed_error() throws Exception {
    qemuImage(dir, "q.qcow2", "");
    long ext = extensionOffset(dir.resolve("q.qcow2"));
    poke(dir.resolve("q.qcow2"), ext + 8, ByteBuffer.allocate(8).putLong(1L << 40).array());
    CorruptImageException e =
        assertThrows(
            CorruptImageException.class, () -> DiskImage.open(dir.resolve("q.qcow2"), withKey()));
    assertEquals(Structure.ENCRYPTION_HEADER, e.structure());
  }

  /** Where the full disk encryption header extension lies in the file. */
  static long extensionOffset(Path file) throws IOException {
    byte[] head = Arrays.copyOf(Files.readAllBytes(file), 4096);
    ByteBuffer b = ByteBuffer.wrap(head);
    for (int at = b.getInt(100); at + 8 <= head.length; ) {
      int type = b.getInt(at);
      int len = b.getInt(at + 4);
      if (type == 0x0537be77) {
        return at;
      }
      if (type == 0) {
        break;
      }
      at += 8 + ((len + 7) & ~7);
    }
    throw new AssertionError("no encryption header extension");
  }

  static long luksOffset(Path file) throws IOException {
    long ext = extensionOffset(file);
    ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file));
    return b.getLong((int) ext + 8);
  }

  static void poke(Path file, long at, byte[] bytes) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(bytes), at);
    }
  }
}
