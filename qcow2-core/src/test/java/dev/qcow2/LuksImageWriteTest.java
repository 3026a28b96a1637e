package dev.qcow2;

import static dev.qcow2.LuksImageReadTest.imageOpts;
import static dev.qcow2.LuksImageReadTest.secret;
import static dev.qcow2.LuksImageReadTest.withKey;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.crypto.LuksOptions;
import dev.qcow2.testing.LuksQemu;
import dev.qcow2.testing.Qemu;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Encrypted images we write: ones we create qemu checks, opens with the passphrase and finds equal
 * to what we wrote; into ones qemu created we write, and qemu reads it back. For every AES mode and
 * hash qemu offers that the JDK has.
 */
@Timeout(180)
class LuksImageWriteTest {
  @TempDir Path dir;

  static Stream<Arguments> ciphers() {
    return Stream.of(
        Arguments.of("aes-256", "xts", "plain64", null, "sha256"),
        Arguments.of("aes-128", "xts", "plain64", null, "sha1"),
        Arguments.of("aes-192", "xts", "plain64", null, "sha384"),
        Arguments.of("aes-256", "xts", "plain64", null, "sha512"),
        Arguments.of("aes-128", "cbc", "essiv", "sha256", "sha256"),
        Arguments.of("aes-256", "cbc", "essiv", "sha256", "sha1"),
        Arguments.of("aes-128", "cbc", "plain64", null, "sha256"),
        Arguments.of("aes-256", "cbc", "plain", null, "sha512"));
  }

  /** Writes of every shape (whole clusters, partial, across clusters), mirrored into expected. */
  static void writeSome(Qcow2Image img, byte[] expected, long seed) throws Exception {
    Random r = new Random(seed);
    for (int i = 0; i < 40; i++) {
      // One write of 1.5 MB: long enough that its sectors are encrypted in parallel pieces.
      int len = i == 7 ? 1_500_000 : 1 + r.nextInt(i % 4 == 0 ? 200_000 : 9000);
      int at = r.nextInt(expected.length - len);
      byte[] data = new byte[len];
      r.nextBytes(data);
      img.write(ByteBuffer.wrap(data), at);
      System.arraycopy(data, 0, expected, at, len);
    }
    img.writeZeroes(65536, 65536);
    Arrays.fill(expected, 65536, 131072, (byte) 0);
  }

  void assertQemuReads(String name, byte[] expected) throws Exception {
    Files.write(dir.resolve("expected.raw"), expected);
    String check =
        Qemu.run(dir, "qemu-img", "check", "--object", secret(), "--image-opts", imageOpts(name));
    assertTrue(check.contains("No errors were found"), check);
    Qemu.run(
        dir,
        "qemu-img",
        "compare",
        "--object",
        secret(),
        "--image-opts",
        imageOpts(name),
        "driver=raw,file.filename=expected.raw");
  }

  @ParameterizedTest(name = "{0}-{1}-{2} {4}")
  @MethodSource("ciphers")
  void qemu_reads_images_we_create_and_write(
      String alg, String mode, String ivgen, String ivHash, String hash) throws Exception {
    CreateOptions co =
        CreateOptions.builder(4 << 20)
            .clusterSize(16384)
            .encryption(new LuksOptions(alg, mode, ivgen, ivHash, hash, 10))
            .build();
    byte[] expected = new byte[4 << 20];
    long seed = System.nanoTime();
    try (Qcow2Image img = Qcow2Image.create(dir.resolve("ours.qcow2"), co, withKey())) {
      writeSome(img, expected, seed);
    }
    String info = Qemu.img(dir, "info", "ours.qcow2");
    assertTrue(info.contains("cipher alg: " + alg) && info.contains("hash alg: " + hash), info);
    assertQemuReads("ours.qcow2", expected);
    assertArrayEquals(
        expected, LuksImageReadTest.ourRead(dir.resolve("ours.qcow2"), withKey()), "seed " + seed);
  }

  @ParameterizedTest(name = "{0}-{1}-{2} {4}")
  @MethodSource("ciphers")
  void we_write_into_images_qemu_encrypted(
      String alg, String mode, String ivgen, String ivHash, String hash) throws Exception {
    String o =
        ",encrypt.cipher-alg="
            + alg
            + ",encrypt.cipher-mode="
            + mode
            + ",encrypt.ivgen-alg="
            + ivgen
            + ",encrypt.hash-alg="
            + hash
            + (ivHash != null ? ",encrypt.ivgen-hash-alg=" + ivHash : "");
    LuksImageReadTest.qemuImage(dir, "q.qcow2", o);
    byte[] expected = LuksImageReadTest.qemuRaw(dir, "q.qcow2");
    long seed = System.nanoTime();
    try (Qcow2Image img =
        Qcow2Image.open(dir.resolve("q.qcow2"), withKey().toBuilder().writable(true).build())) {
      writeSome(img, expected, seed);
    }
    assertQemuReads("q.qcow2", expected);
  }

  static Stream<Arguments> layouts() {
    return Stream.of(
        Arguments.of("extended L2", CreateOptions.builder(4 << 20).extendedL2(true)),
        Arguments.of("compat 0.10", CreateOptions.builder(4 << 20).version(2)),
        Arguments.of("512-byte clusters", CreateOptions.builder(4 << 20).clusterSize(512)),
        Arguments.of("2 MiB clusters", CreateOptions.builder(4 << 20).clusterSize(2 << 20)),
        Arguments.of("lazy refcounts", CreateOptions.builder(4 << 20).lazyRefcounts(true)));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("layouts")
  void qemu_reads_encrypted_images_of_every_layout(String name, CreateOptions.Builder b)
      throws Exception {
    CreateOptions co = b.encryption(LuksFormatterOptions.fast()).build();
    byte[] expected = new byte[4 << 20];
    long seed = System.nanoTime();
    try (Qcow2Image img = Qcow2Image.create(dir.resolve("ours.qcow2"), co, withKey())) {
      writeSome(img, expected, seed);
    }
    assertQemuReads("ours.qcow2", expected);
  }

  /** LUKS options with a short PBKDF2 time, for tests. */
  static final class LuksFormatterOptions {
    static LuksOptions fast() {
      return new LuksOptions("aes-256", "xts", "plain64", null, "sha256", 10);
    }
  }

  @Test
  void the_layout_is_qemus() throws Exception {
    CreateOptions co =
        CreateOptions.builder(64 << 20).encryption(LuksFormatterOptions.fast()).build();
    Qcow2Image.create(dir.resolve("ours.qcow2"), co, withKey()).close();
    LuksQemu.create(
        dir,
        "-f",
        "qcow2",
        "--object",
        secret(),
        "-o",
        "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10",
        "q.qcow2",
        "64M");
    assertEquals(
        LuksImageReadTest.luksOffset(dir.resolve("q.qcow2")),
        LuksImageReadTest.luksOffset(dir.resolve("ours.qcow2")));
    assertEquals(Files.size(dir.resolve("q.qcow2")), Files.size(dir.resolve("ours.qcow2")));
    String check =
        Qemu.run(
            dir,
            "qemu-img",
            "check",
            "--object",
            secret(),
            "--image-opts",
            imageOpts("ours.qcow2"));
    assertTrue(check.contains("No errors were found"), check);
  }

  @Test
  void aes_192_in_cbc_mode_which_qemu_aborts_on_is_refused() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                CreateOptions.builder(1 << 20)
                    .encryption(new LuksOptions("aes-192", "cbc", "plain64", null, "sha256", 10))
                    .build());
    assertEquals(
        "cipher aes-192-cbc is not supported: its key material (96000 bytes) is not whole sectors",
        e.getMessage());
  }

  @Test
  void writing_without_the_passphrase_is_refused_and_changes_nothing() throws Exception {
    LuksImageReadTest.qemuImage(dir, "q.qcow2", "");
    byte[] before = Files.readAllBytes(dir.resolve("q.qcow2"));
    try (Qcow2Image img =
        Qcow2Image.open(dir.resolve("q.qcow2"), OpenOptions.builder().writable(true).build())) {
      UnsupportedImageException e =
          assertThrows(
              UnsupportedImageException.class,
              () -> img.write(ByteBuffer.allocate(65536), 2L << 20));
      assertTrue(e.getMessage().contains("encrypt.key-secret"), e.getMessage());
    }
    assertArrayEquals(before, Files.readAllBytes(dir.resolve("q.qcow2")));
  }

  @Test
  void compressed_writes_are_refused_as_qemu_refuses_them() throws Exception {
    CreateOptions co =
        CreateOptions.builder(1 << 20).encryption(LuksFormatterOptions.fast()).build();
    try (Qcow2Image img = Qcow2Image.create(dir.resolve("ours.qcow2"), co, withKey())) {
      UnsupportedImageException e =
          assertThrows(
              UnsupportedImageException.class,
              () -> img.writeCompressed(ByteBuffer.allocate(65536), 0));
      assertTrue(
          e.getMessage().contains("Compression and encryption not supported"), e.getMessage());
    }
  }

  @Test
  void creating_without_a_passphrase_is_refused_in_qemus_words() {
    CreateOptions co = CreateOptions.builder(1 << 20).encryption(LuksOptions.defaults()).build();
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> Qcow2Image.create(dir.resolve("ours.qcow2"), co));
    assertTrue(e.getMessage().endsWith("Parameter 'encrypt.key-secret' is required for cipher"));
  }
}
