package dev.qcow2.remote;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrowsExactly;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.BlockStatus;
import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.UnsupportedImageException;
import dev.qcow2.testing.Qemu;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Images in a bucket opened by their s3:// names through {@link RemoteImages}, as the tools open
 * them: the shared client is the test server's, wrapped to count the bytes fetched.
 */
@Timeout(120)
class S3ImagesTest extends S3ServerTest {
  private static final int MiB = 1 << 20;
  static CountingS3Client counting;

  @BeforeAll
  static void shareCountingClient() {
    counting = new CountingS3Client(client);
    S3Clients.share(counting);
  }

  @AfterAll
  static void unshare() {
    S3Clients.share(null);
  }

  private static void upload(Path file, String key) throws Exception {
    S3Upload.put(client, at(key), ByteBuffer.wrap(Files.readAllBytes(file)), Map.of());
  }

  private static DiskImage open(String key) throws Exception {
    return RemoteImages.open(
        RangeSources.s3Uri("s3://" + BUCKET + "/" + key), OpenOptions.defaults());
  }

  @Test
  void aChainOfThreeImagesInABucketReadsAsQemuReadsTheLocalTop() throws Exception {
    Path d = Files.createDirectories(dir.resolve("chain"));
    Qemu.img(d, "create", "-q", "-f", "qcow2", "base.qcow2", "24M");
    Qemu.io(d, "base.qcow2", "write -P 0x11 0 8M", "write -P 0x12 20M 1M");
    Qemu.img(
        d, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "mid image.qcow2");
    Qemu.io(d, "mid image.qcow2", "write -P 0x22 4M 8M", "write -z 1M 1M");
    Qemu.img(d, "create", "-q", "-f", "qcow2", "-b", "mid image.qcow2", "-F", "qcow2", "top.qcow2");
    Qemu.io(d, "top.qcow2", "write -c -P 0x33 6M 1M", "write -P 0x34 23M 64k");
    for (String name : new String[] {"base.qcow2", "mid image.qcow2", "top.qcow2"}) {
      upload(d.resolve(name), "chain/" + name);
    }
    Qemu.img(d, "convert", "-O", "raw", "top.qcow2", "expected.raw");
    byte[] expected = Files.readAllBytes(d.resolve("expected.raw"));
    try (DiskImage top = open("chain/top.qcow2")) {
      ByteBuffer all = ByteBuffer.allocate(expected.length);
      top.read(all, 0);
      assertArrayEquals(expected, all.array());
    }
  }

  @Test
  void aBackingNameOutsideTheImagesFolderIsRefusedAndNeverFetched() throws Exception {
    Path d = Files.createDirectories(dir.resolve("escape"));
    Qemu.img(d, "create", "-q", "-f", "qcow2", "base.qcow2", "1M");
    Qemu.img(
        d,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-u",
        "-b",
        "../base.qcow2",
        "-F",
        "qcow2",
        "top.qcow2",
        "1M");
    upload(d.resolve("base.qcow2"), "up/base.qcow2");
    upload(d.resolve("top.qcow2"), "up/in/top.qcow2");
    long gets = counting.gets.get();
    UnsupportedImageException e =
        assertThrowsExactly(UnsupportedImageException.class, () -> open("up/in/top.qcow2"));
    assertFalse(e.getMessage().contains("\n"), e.getMessage());
    assertTrue(
        e.getMessage().contains("\"../base.qcow2\"")
            && e.getMessage().contains("s3://images/up/in/"),
        e.getMessage());
    assertTrue(counting.gets.get() - gets <= 2, "only the top image's head is fetched");
  }

  @Test
  void aTebibyteImageHolding8MiBGivesInfoAndMapFromWellUnderOneMiB() throws Exception {
    Path d = Files.createDirectories(dir.resolve("big"));
    Qemu.img(d, "create", "-q", "-f", "qcow2", "big.qcow2", "1T");
    Qemu.io(d, "big.qcow2", "write -P 0x5a 0 4M", "write -P 0xa5 512G 4M");
    upload(d.resolve("big.qcow2"), "big/big.qcow2");
    long before = counting.bytes.get();
    int runs = 0;
    try (DiskImage big = open("big/big.qcow2")) {
      assertEquals(1L << 40, big.info().virtualSize());
      for (long at = 0; at < big.size(); runs++) {
        BlockStatus s = big.blockStatus(at, big.size() - at);
        at += s.length();
      }
    }
    long fetched = counting.bytes.get() - before;
    assertTrue(runs >= 3, "runs: " + runs);
    assertTrue(fetched < MiB / 2, "info and map fetched " + fetched + " bytes");
  }
}
