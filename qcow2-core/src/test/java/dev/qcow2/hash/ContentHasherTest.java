package dev.qcow2.hash;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.DiskImage;
import dev.qcow2.testing.FailingImage;
import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The digests equal those of qemu-img's raw output: sha1 and sha256 as sha1sum and sha256sum give
 * them, tree-sha256 as its definition (computed here the plain way) and its README test vectors.
 */
class ContentHasherTest {
  @TempDir Path dir;

  @ParameterizedTest(name = "{0}")
  @ValueSource(
      strings = {
        "raw",
        "sparse qcow2",
        "zlib",
        "zstd",
        "backing chain",
        "extended l2",
        "cluster 512",
        "odd size",
        "v2 zero clusters",
        "raw backing"
      })
  void digestsEqualThoseOfQemuImgRawOutput(String kind) throws Exception {
    String image = make(kind);
    Path raw = Qemu.toRaw(dir, image, "expected.raw");
    byte[] bytes = Files.readAllBytes(raw);
    for (int threads : new int[] {1, 3}) {
      try (DiskImage disk = DiskImage.open(dir.resolve(image))) {
        assertEquals(bytes.length, disk.size());
        long[] last = {-1};
        ContentHash sha256 =
            ContentHasher.hash(disk, HashAlgorithm.SHA256, threads, d -> last[0] = d);
        assertEquals(
            hex("SHA-256", bytes), sha256.hex(), kind + " sha256, " + threads + " threads");
        assertEquals(bytes.length, last[0], "progress reaches the end");
        assertEquals(
            hex("SHA-1", bytes),
            ContentHasher.hash(disk, HashAlgorithm.SHA1, threads, null).hex(),
            kind + " sha1");
        assertEquals(
            treeOf(bytes),
            ContentHasher.hash(disk, HashAlgorithm.TREE_SHA256, threads, null).hex(),
            kind + " tree-sha256");
      }
    }
  }

  private String make(String kind) throws IOException {
    switch (kind) {
      case "raw" -> {
        TestData.writeRaw(dir.resolve("a.raw"), 3L << 20, 1);
        return "a.raw";
      }
      case "sparse qcow2" -> {
        Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "64M");
        Qemu.io(dir, "a.qcow2", "write -P 1 1000 70000", "write -P 2 40M 3M", "write -z 40M 64k");
        return "a.qcow2";
      }
      case "zlib", "zstd" -> {
        TestData.writeRaw(dir.resolve("a.raw"), 9L << 20, 2);
        Qemu.img(
            dir,
            "convert",
            "-c",
            "-O",
            "qcow2",
            "-o",
            "compression_type=" + kind,
            "a.raw",
            "a.qcow2");
        return "a.qcow2";
      }
      case "backing chain" -> {
        TestData.writeRaw(dir.resolve("base.raw"), 6L << 20, 3);
        Qemu.img(dir, "convert", "-O", "qcow2", "base.raw", "base.qcow2");
        Qemu.img(
            dir,
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "base.qcow2",
            "-F",
            "qcow2",
            "mid.qcow2",
            "8M");
        Qemu.io(dir, "mid.qcow2", "write -P 5 1M 100k", "write -z 3M 1M");
        Qemu.img(
            dir,
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            "mid.qcow2",
            "-F",
            "qcow2",
            "top.qcow2",
            "8M");
        Qemu.io(dir, "top.qcow2", "write -P 6 7M 4096", "write -P 7 0 512");
        return "top.qcow2";
      }
      case "extended l2" -> {
        Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "extended_l2=on", "a.qcow2", "16M");
        Qemu.io(dir, "a.qcow2", "write -P 3 4096 2048", "write -P 4 5M 700k");
        return "a.qcow2";
      }
      case "cluster 512" -> {
        Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", "a.qcow2", "4M");
        Qemu.io(dir, "a.qcow2", "write -P 8 100 3000", "write -P 9 2M 1M");
        return "a.qcow2";
      }
      case "odd size" -> {
        Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "5243392"); // 5 MiB + 512
        Qemu.io(dir, "a.qcow2", "write -P 10 5242880 512", "write -P 11 1M 1");
        return "a.qcow2";
      }
      case "v2 zero clusters" -> {
        TestData.writeRaw(dir.resolve("base.raw"), 4L << 20, 4);
        Qemu.img(
            dir,
            "create",
            "-q",
            "-f",
            "qcow2",
            "-o",
            "compat=1.1",
            "-b",
            "base.raw",
            "-F",
            "raw",
            "a.qcow2");
        Qemu.io(dir, "a.qcow2", "write -z 0 1M", "write -P 12 2M 64k");
        return "a.qcow2";
      }
      case "raw backing" -> {
        TestData.writeRaw(dir.resolve("base.raw"), 2L << 20, 5);
        Qemu.img(
            dir, "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "a.qcow2", "3M");
        Qemu.io(dir, "a.qcow2", "write -P 13 1500000 100000");
        return "a.qcow2";
      }
      default -> throw new IllegalArgumentException(kind);
    }
  }

  /**
   * The README's test vectors, so that the definition cannot drift: a disk of size 0, 3 MiB + 512
   * bytes of zeros, and 1 MiB + 512 bytes where byte i is i mod 251.
   */
  @Test
  void treeHashMatchesReadmeTestVectors() throws Exception {
    assertEquals(README_EMPTY, treeOfRaw(new byte[0]));
    assertEquals(README_ZEROS, treeOfRaw(new byte[(3 << 20) + 512]));
    byte[] pattern = new byte[(1 << 20) + 512];
    for (int i = 0; i < pattern.length; i++) {
      pattern[i] = (byte) (i % 251);
    }
    assertEquals(README_PATTERN, treeOfRaw(pattern));
  }

  static final String README_EMPTY =
      "af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc";
  static final String README_ZEROS =
      "c4950149811f20cf309de446cf283ade29062423b2d829da1fad0b7cd043e5f2";
  static final String README_PATTERN =
      "b590c4807e0e7e0e387d871b441f11d953820ae654f935ec219734c5cf46ebf6";

  /** The tree hash of a raw file holding {@code bytes}, through the hasher. */
  private String treeOfRaw(byte[] bytes) throws Exception {
    Path file = dir.resolve("vector.raw");
    Files.write(file, bytes);
    try (DiskImage disk = DiskImage.open(file)) {
      String got = ContentHasher.hash(disk, HashAlgorithm.TREE_SHA256, 2, null).hex();
      assertEquals(treeOf(bytes), got, "the hasher agrees with the plain definition");
      return got;
    }
  }

  /**
   * A 1 TiB disk holding a few MiB: the tree hash skips the holes and still equals the definition.
   */
  @Test
  void treeHashOfHugeSparseDiskFollowsTheData() throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "big.qcow2", "1T");
    long[][] writes = {
      {0, 1 << 20, 0x11}, {(600L << 30) + 4096, 3 << 20, 0x22}, {(1L << 40) - 512, 512, 0x33}
    };
    List<String> cmds = new ArrayList<>();
    for (long[] w : writes) {
      cmds.add("write -P " + w[2] + " " + w[0] + " " + w[1]);
    }
    Qemu.io(dir, "big.qcow2", cmds.toArray(String[]::new));
    MessageDigest top = MessageDigest.getInstance("SHA-256");
    byte[] zeroDigest = MessageDigest.getInstance("SHA-256").digest(new byte[ContentHasher.CHUNK]);
    long size = 1L << 40;
    for (long chunk = 0; chunk < size / ContentHasher.CHUNK; chunk++) {
      long start = chunk * ContentHasher.CHUNK;
      byte[] content = null;
      for (long[] w : writes) {
        long from = Math.max(start, w[0]);
        long to = Math.min(start + ContentHasher.CHUNK, w[0] + w[1]);
        if (from < to) {
          if (content == null) {
            content = new byte[ContentHasher.CHUNK];
          }
          java.util.Arrays.fill(content, (int) (from - start), (int) (to - start), (byte) w[2]);
        }
      }
      top.update(
          content == null ? zeroDigest : MessageDigest.getInstance("SHA-256").digest(content));
    }
    top.update(ByteBuffer.allocate(8).putLong(size).array());
    try (DiskImage disk = DiskImage.open(dir.resolve("big.qcow2"))) {
      assertEquals(
          HexFormat.of().formatHex(top.digest()),
          ContentHasher.hash(disk, HashAlgorithm.TREE_SHA256, 2, null).hex());
    }
  }

  @Test
  void fileDigestIsTheFilesBytes() throws Exception {
    TestData.writeRaw(dir.resolve("f"), 2_500_000, 9);
    byte[] bytes = Files.readAllBytes(dir.resolve("f"));
    assertEquals(
        hex("SHA-256", bytes),
        ContentHasher.hashFile(dir.resolve("f"), HashAlgorithm.SHA256).hex());
    assertEquals(
        hex("SHA-1", bytes), ContentHasher.hashFile(dir.resolve("f"), HashAlgorithm.SHA1).hex());
    assertThrows(
        IllegalArgumentException.class,
        () -> ContentHasher.hashFile(dir.resolve("f"), HashAlgorithm.TREE_SHA256));
  }

  @Test
  void unknownAlgorithmNameIsRefused() {
    assertEquals(HashAlgorithm.TREE_SHA256, HashAlgorithm.of("tree-sha256"));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> HashAlgorithm.of("md5"));
    assertEquals("unknown hash algorithm 'md5' (sha1, sha256, tree-sha256)", e.getMessage());
  }

  private static String hex(String algorithm, byte[] bytes) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance(algorithm).digest(bytes));
  }

  /** The tree hash by its definition, over bytes in memory. */
  static String treeOf(byte[] bytes) throws Exception {
    MessageDigest top = MessageDigest.getInstance("SHA-256");
    for (int at = 0; at < bytes.length; at += ContentHasher.CHUNK) {
      MessageDigest chunk = MessageDigest.getInstance("SHA-256");
      chunk.update(bytes, at, Math.min(ContentHasher.CHUNK, bytes.length - at));
      top.update(chunk.digest());
    }
    top.update(ByteBuffer.allocate(8).putLong(bytes.length).array());
    return HexFormat.of().formatHex(top.digest());
  }

  /**
   * A read that fails part-way ends the digest with its error, for every algorithm, without a hang,
   * and the caller's image still reads afterwards (readers are stopped, not interrupted).
   */
  @ParameterizedTest
  @ValueSource(strings = {"sha1", "sha256", "tree-sha256"})
  void aFailingReadEndsTheDigestAndLeavesTheImageUsable(String name) throws Exception {
    TestData.writeRaw(dir.resolve("src.raw"), 48L << 20, 65536);
    try (DiskImage good = DiskImage.open(dir.resolve("src.raw"))) {
      DiskImage failing = new FailingImage(good, 29L << 20, 20);
      IOException e =
          assertTimeoutPreemptively(
              java.time.Duration.ofSeconds(30),
              () ->
                  assertThrows(
                      IOException.class,
                      () -> ContentHasher.hash(failing, HashAlgorithm.of(name), 3, null)));
      assertTrue(e.getMessage().contains("disk went away"), e.getMessage());
      // Long enough for any reader still running to reach its channel.
      Thread.sleep(200);
      good.readFully(ByteBuffer.allocate(65536), 40L << 20);
    }
  }
}
