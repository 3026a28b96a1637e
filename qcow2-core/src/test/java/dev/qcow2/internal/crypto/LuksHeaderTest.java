package dev.qcow2.internal.crypto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.qcow2.crypto.LuksException;
import dev.qcow2.crypto.LuksInfo;
import dev.qcow2.crypto.LuksOptions;
import dev.qcow2.testing.LuksQemu;
import dev.qcow2.testing.Qemu;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * LUKS1 headers both ways with qemu's standalone LUKS format ({@code qemu-img create -f luks}),
 * whose payload sectors are numbered from the payload's start: what qemu makes we unlock and
 * decrypt, and what we make qemu opens and decrypts; then PBKDF2's published vectors, the
 * anti-forensic splitter, a wrong passphrase and damaged fields.
 */
@Timeout(120)
class LuksHeaderTest {
  private static final byte[] PASS =
      "s3cret pass".getBytes(java.nio.charset.StandardCharsets.UTF_8);

  @TempDir Path dir;

  static Stream<Arguments> ciphers() {
    return Stream.of(
        Arguments.of("aes-256", "xts", "plain64", null, "sha256"),
        Arguments.of("aes-128", "xts", "plain64", null, "sha1"),
        Arguments.of("aes-192", "xts", "plain", null, "sha384"),
        Arguments.of("aes-256", "cbc", "essiv", "sha256", "sha512"),
        Arguments.of("aes-128", "cbc", "plain64", null, "sha256"));
  }

  private String secret() {
    return "secret,id=sec0,data=" + new String(PASS, java.nio.charset.StandardCharsets.UTF_8);
  }

  private String opts(String file) {
    return "driver=luks,file.filename=" + file + ",key-secret=sec0";
  }

  @ParameterizedTest(name = "{0}-{1}-{2} {4}")
  @MethodSource("ciphers")
  void qemu_made_volume_unlocks_and_decrypts(
      String alg, String mode, String ivgen, String ivHash, String hash) throws Exception {
    String o =
        "cipher-alg="
            + alg
            + ",cipher-mode="
            + mode
            + ",ivgen-alg="
            + ivgen
            + ",hash-alg="
            + hash
            + ",iter-time=10,key-secret=sec0"
            + (ivHash != null ? ",ivgen-hash-alg=" + ivHash : "");
    LuksQemu.create(dir, "--object", secret(), "-f", "luks", "-o", o, "v.luks", "1M");
    Qemu.run(
        dir,
        "qemu-io",
        "--object",
        secret(),
        "--image-opts",
        opts("v.luks"),
        "-c",
        "write -P 0x5a 0 4k",
        "-c",
        "write -P 0xc3 64k 512");
    byte[] file = Files.readAllBytes(dir.resolve("v.luks"));
    LuksHeader h = LuksHeader.parse(file);
    LuksInfo info = h.info();
    assertEquals(alg, info.cipherAlg());
    assertEquals(mode, info.cipherMode());
    assertEquals(ivgen, info.ivgenAlg());
    assertEquals(hash, info.hashAlg());
    SectorCipher c = h.unlock(PASS.clone());
    int payload = (int) info.payloadOffset();
    byte[] data = Arrays.copyOfRange(file, payload, payload + (128 << 10));
    c.decrypt(data, 0, data.length, 0);
    // Sectors never written hold zeros on disk, which decrypt to noise, for qemu too.
    byte[] a = new byte[4096];
    Arrays.fill(a, (byte) 0x5a);
    assertArrayEquals(a, Arrays.copyOfRange(data, 0, 4096));
    byte[] b = new byte[512];
    Arrays.fill(b, (byte) 0xc3);
    assertArrayEquals(b, Arrays.copyOfRange(data, 64 << 10, (64 << 10) + 512));
  }

  @ParameterizedTest(name = "{0}-{1}-{2} {4}")
  @MethodSource("ciphers")
  void qemu_opens_and_decrypts_what_we_make(
      String alg, String mode, String ivgen, String ivHash, String hash) throws Exception {
    LuksFormatter.Formatted f =
        LuksFormatter.format(new LuksOptions(alg, mode, ivgen, ivHash, hash, 10), PASS);
    byte[] payload = new byte[1 << 20];
    for (int i = 0; i < payload.length; i++) {
      payload[i] = (byte) (i * 7 + (i >>> 9));
    }
    byte[] encrypted = payload.clone();
    f.cipher().encrypt(encrypted, 0, encrypted.length, 0);
    ByteBuffer file = ByteBuffer.allocate(f.region().length + payload.length);
    file.put(f.region()).put(encrypted);
    Files.write(dir.resolve("ours.luks"), file.array());
    Files.write(dir.resolve("expected.raw"), payload);
    String info = Qemu.img(dir, "info", "ours.luks");
    assertEquals(true, info.contains("cipher alg: " + alg), info);
    Qemu.img(
        dir,
        "compare",
        "--object",
        secret(),
        "--image-opts",
        opts("ours.luks"),
        "driver=raw,file.filename=expected.raw");
  }

  @Test
  void wrong_passphrase_is_refused_in_qemus_words() throws Exception {
    LuksFormatter.Formatted f = LuksFormatter.format(options(), PASS);
    LuksException e =
        assertThrows(
            LuksException.class, () -> LuksHeader.parse(f.region()).unlock("nope".getBytes()));
    assertEquals(LuksException.Kind.INVALID_PASSWORD, e.kind());
    assertEquals("Invalid password, cannot unlock any keyslot", e.getMessage());
  }

  @Test
  void an_empty_passphrase_works_both_ways() throws Exception {
    LuksFormatter.Formatted f = LuksFormatter.format(options(), new byte[0]);
    SectorCipher c = LuksHeader.parse(f.region()).unlock(new byte[0]);
    byte[] a = new byte[1024];
    f.cipher().encrypt(a, 0, a.length, 3);
    c.decrypt(a, 0, a.length, 3);
    assertArrayEquals(new byte[1024], a);
  }

  private static LuksOptions options() {
    return new LuksOptions("aes-256", "xts", "plain64", null, "sha256", 10);
  }

  @Test
  void damaged_fields_are_typed_errors_naming_the_field() throws Exception {
    byte[] good = LuksFormatter.format(options(), PASS).region();
    record Damage(int at, byte[] bytes, LuksException.Kind kind, String words) {}
    List<Damage> damages =
        List.of(
            new Damage(0, new byte[] {'X'}, LuksException.Kind.CORRUPT, "no LUKS magic"),
            new Damage(6, new byte[] {0, 2}, LuksException.Kind.UNSUPPORTED, "version 2"),
            new Damage(
                8,
                "serpent\0".getBytes(),
                LuksException.Kind.UNSUPPORTED,
                "cipher serpent is not supported (the JDK has no serpent)"),
            new Damage(
                8,
                "twofish\0".getBytes(),
                LuksException.Kind.UNSUPPORTED,
                "cipher twofish is not supported (the JDK has no twofish)"),
            new Damage(
                8,
                "cast5\0".getBytes(),
                LuksException.Kind.UNSUPPORTED,
                "cipher cast5 is not supported (the JDK has no cast5)"),
            new Damage(
                72,
                "ripemd160\0".getBytes(),
                LuksException.Kind.UNSUPPORTED,
                "hash ripemd160 is not supported (the JDK has no ripemd160)"),
            new Damage(
                40,
                "ctr-plain64\0".getBytes(),
                LuksException.Kind.UNSUPPORTED,
                "cipher mode 'ctr'"),
            new Damage(108, new byte[] {0, 0, 0, 63}, LuksException.Kind.CORRUPT, "key-bytes 63"),
            new Damage(164, new byte[4], LuksException.Kind.CORRUPT, "mk-digest-iter is 0"),
            new Damage(
                164,
                new byte[] {(byte) 0xff, 0, 0, 0},
                LuksException.Kind.UNSUPPORTED,
                "over the limit"),
            new Damage(
                208,
                new byte[] {1, 2, 3, 4},
                LuksException.Kind.CORRUPT,
                "key slot 0 state 0x1020304"),
            new Damage(
                208 + 44,
                new byte[] {0, 0, 0, 7},
                LuksException.Kind.CORRUPT,
                "key slot 0 stripes 7 is not 4000"),
            new Damage(
                208 + 48 + 40,
                new byte[] {0, 0, 0, 8},
                LuksException.Kind.CORRUPT,
                "key slot 1 material overlaps key slot 0"),
            new Damage(
                208 + 40,
                new byte[] {0, 0, 0x7f, 0},
                LuksException.Kind.CORRUPT,
                "lies outside the header region"),
            new Damage(
                72,
                "x".repeat(32).getBytes(),
                LuksException.Kind.CORRUPT,
                "hash-spec is not NUL-terminated"));
    for (Damage d : damages) {
      byte[] bad = good.clone();
      System.arraycopy(d.bytes(), 0, bad, d.at(), d.bytes().length);
      LuksException e = assertThrows(LuksException.class, () -> LuksHeader.parse(bad), d.words());
      assertEquals(d.kind(), e.kind(), e.getMessage());
      assertEquals(true, e.getMessage().contains(d.words()), e.getMessage());
      assertEquals(true, e.offset() >= d.at() - 8 && e.offset() <= d.at() + 40, e.getMessage());
    }
    assertThrows(LuksException.class, () -> LuksHeader.parse(Arrays.copyOf(good, 100)));
  }

  @Test
  void a_damaged_key_slot_does_not_unlock() throws Exception {
    byte[] region = LuksFormatter.format(options(), PASS).region();
    region[4096 + 1000] ^= 1; // one bit of the anti-forensic stripes: the whole key is lost
    LuksException e =
        assertThrows(LuksException.class, () -> LuksHeader.parse(region).unlock(PASS.clone()));
    assertEquals(LuksException.Kind.INVALID_PASSWORD, e.kind());
  }

  @Test
  void pbkdf2_matches_rfc_6070_and_rfc_7914() {
    HexFormat hex = HexFormat.of();
    byte[] p = "password".getBytes();
    byte[] s = "salt".getBytes();
    assertEquals(
        "0c60c80f961f0e71f3a9b524af6012062fe037a6",
        hex.formatHex(LuksHash.SHA1.pbkdf2(p, s, 1, 20)));
    assertEquals(
        "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957",
        hex.formatHex(LuksHash.SHA1.pbkdf2(p, s, 2, 20)));
    assertEquals(
        "4b007901b765489abead49d926f721d065a429c1",
        hex.formatHex(LuksHash.SHA1.pbkdf2(p, s, 4096, 20)));
    assertEquals(
        "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b",
        hex.formatHex(LuksHash.SHA256.pbkdf2(p, s, 1, 32)));
  }

  @Test
  void pbkdf2_equals_the_jdks_for_every_hash_and_several_blocks() throws Exception {
    // The JDK's own PBKDF2 takes the password as chars (UTF-8 encoded): ASCII passwords only, one
    // longer than every hash's block, so that HMAC hashes it first.
    String[] passwords = {"p", "correct horse battery staple", "x".repeat(200)};
    byte[] salt = "NaCl and some more salt".getBytes();
    for (LuksHash h : LuksHash.values()) {
      for (String pw : passwords) {
        for (int iterations : new int[] {1, 2, 1500}) {
          for (int length : new int[] {16, h.digestLength, 64, 65}) {
            javax.crypto.SecretKeyFactory f =
                javax.crypto.SecretKeyFactory.getInstance(
                    "PBKDF2WithHmac" + h.jdkName.replace("-", ""));
            byte[] want =
                f.generateSecret(
                        new javax.crypto.spec.PBEKeySpec(
                            pw.toCharArray(), salt, iterations, length * 8))
                    .getEncoded();
            assertArrayEquals(
                want,
                h.pbkdf2(pw.getBytes(), salt, iterations, length),
                h + " " + pw.length() + " " + iterations + " " + length);
          }
        }
      }
    }
  }

  @Test
  void anti_forensic_split_merges_back_for_every_hash() {
    java.security.SecureRandom r = new java.security.SecureRandom();
    for (LuksHash h : LuksHash.values()) {
      for (int n : new int[] {16, 32, 48, 64, 65}) {
        byte[] key = new byte[n];
        r.nextBytes(key);
        byte[] material = AntiForensic.split(key, 4000, h, r);
        assertArrayEquals(key, AntiForensic.merge(material, n, 4000, h), h + " " + n);
      }
    }
  }

  @Test
  void options_qemu_would_refuse_are_refused_by_name() {
    LuksException e =
        assertThrows(
            LuksException.class,
            () ->
                LuksFormatter.check(
                    new LuksOptions("serpent-256", "xts", "plain64", null, "sha256", 10)));
    assertEquals("cipher serpent is not supported (the JDK has no serpent)", e.getMessage());
    e =
        assertThrows(
            LuksException.class,
            () ->
                LuksFormatter.check(
                    new LuksOptions("aes-256", "cbc", "essiv", "sha1", "sha256", 10)));
    assertEquals(true, e.getMessage().contains("essiv hash sha1"), e.getMessage());
  }
}
