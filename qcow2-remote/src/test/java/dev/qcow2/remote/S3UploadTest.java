package dev.qcow2.remote;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.remote.S3RequestException.Reason;
import dev.qcow2.testing.Qemu;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;

/**
 * Multipart uploads to s3proxy: the object equals what was written, and a failure leaves nothing.
 */
@Timeout(120)
class S3UploadTest extends S3ServerTest {
  static final int MIB = 1 << 20;

  static byte[] get(String key) {
    return client.getObjectAsBytes(b -> b.bucket(BUCKET).key(key)).asByteArray();
  }

  static S3UploadOptions heldHead() throws Exception {
    return S3UploadOptions.builder()
        .partSize(5 * MIB)
        .holdFirstPart(true)
        .threads(3)
        .bufferedParts(2)
        .build();
  }

  /** Nothing under the key: no object, and no unfinished multipart upload either. */
  static void assertNothingUnder(String key) {
    assertThrows(NoSuchKeyException.class, () -> client.headObject(b -> b.bucket(BUCKET).key(key)));
    assertEquals(List.of(), pendingUploads(key));
  }

  static List<MultipartUpload> pendingUploads(String key) {
    return client.listMultipartUploads(b -> b.bucket(BUCKET).prefix(key)).uploads();
  }

  /** Writes {@code content} in chunks of random sizes. */
  static void writeInChunks(S3Upload upload, byte[] content, int from, int to, Random random)
      throws Exception {
    for (int at = from; at < to; ) {
      int n = Math.min(to - at, 1 + random.nextInt(700_000));
      upload.write(ByteBuffer.wrap(content, at, n));
      at += n;
    }
  }

  @Test
  @Timeout(120)
  void aMultipartUploadWithPartOneWrittenLastEqualsTheInput() throws Exception {
    long seed = System.nanoTime();
    Random random = new Random(seed);
    byte[] content = new byte[12 * MIB + 54321];
    random.nextBytes(content);
    int headLength = 300_000;
    String key = "multi/disk.qcow2";
    try (S3Upload upload = S3Upload.start(client, at(key), heldHead())) {
      // The head region is written as a placeholder first and patched at the end, as a qcow2
      // stream writer does with its header and tables.
      upload.write(ByteBuffer.allocate(headLength));
      writeInChunks(upload, content, headLength, content.length, random);
      assertEquals(content.length, upload.written());
      upload.writeHead(ByteBuffer.wrap(content, 0, headLength));
      assertFalse(upload.acknowledged(1), "part 1 is held until finish");
      assertThrows(
          NoSuchKeyException.class, () -> client.headObject(b -> b.bucket(BUCKET).key(key)));
      upload.finish();
      assertEquals(3, upload.partsUploaded());
    }
    assertArrayEquals(content, get(key), "seed " + seed);
    assertEquals(List.of(), pendingUploads(key));
  }

  @Test
  @Timeout(120)
  void aQcow2ImageUploadedWithItsHeaderLastIsCheckCleanAndEqual() throws Exception {
    Path work = Files.createDirectories(dir.resolve("image"));
    Qemu.img(work, "create", "-q", "-f", "qcow2", "disk.qcow2", "64M");
    Qemu.io(work, "disk.qcow2", "write -P 0x3c 1M 6M", "write -P 0xc3 40M 5M", "write -z 50M 2M");
    byte[] image = Files.readAllBytes(work.resolve("disk.qcow2"));
    assertTrue(image.length > 10 * MIB, "a multipart upload: " + image.length);
    int head =
        4 * 65536; // header, L1 and refcount tables of a fresh image lie in its first clusters
    try (S3Upload upload = S3Upload.start(client, at("image/disk.qcow2"), heldHead())) {
      upload.write(ByteBuffer.allocate(head));
      upload.write(ByteBuffer.wrap(image, head, image.length - head));
      upload.writeHead(ByteBuffer.wrap(image, 0, head));
      upload.finish();
      assertTrue(upload.partsUploaded() >= 3);
    }
    Files.write(work.resolve("back.qcow2"), get("image/disk.qcow2"));
    Qemu.img(work, "check", "-q", "back.qcow2");
    Qemu.img(work, "compare", "-q", "disk.qcow2", "back.qcow2");
  }

  @Test
  @Timeout(120)
  void partsGoUpInOrderWhenTheHeadIsNotHeld() throws Exception {
    long seed = System.nanoTime();
    Random random = new Random(seed);
    byte[] content = new byte[11 * MIB];
    random.nextBytes(content);
    S3UploadOptions options =
        S3UploadOptions.builder().partSize(5 * MIB).threads(2).bufferedParts(1).build();
    try (S3Upload upload = S3Upload.start(client, at("plain/blob"), options)) {
      writeInChunks(upload, content, 0, content.length, random);
      upload.finish();
      assertEquals(3, upload.partsUploaded());
    }
    assertArrayEquals(content, get("plain/blob"), "seed " + seed);
  }

  @Test
  @Timeout(60)
  void anObjectThatFitsInPartOneIsOnePutWithItsMetadata() throws Exception {
    byte[] content = new byte[700_000];
    new Random(7).nextBytes(content);
    S3UploadOptions options =
        S3UploadOptions.builder()
            .partSize(5 * MIB)
            .holdFirstPart(true)
            .metadata("sha256", "abc")
            .build();
    try (S3Upload upload = S3Upload.start(client, at("small/blob"), options)) {
      upload.write(ByteBuffer.allocate(4096));
      upload.write(ByteBuffer.wrap(content, 4096, content.length - 4096));
      upload.writeHead(ByteBuffer.wrap(content, 0, 4096));
      upload.finish();
      assertEquals(0, upload.partsUploaded());
    }
    assertArrayEquals(content, get("small/blob"));
    assertEquals(
        Map.of("sha256", "abc"),
        client.headObject(b -> b.bucket(BUCKET).key("small/blob")).metadata());
    try (S3Upload upload = S3Upload.start(client, at("small/empty"), S3UploadOptions.defaults())) {
      upload.finish();
    }
    assertEquals(0, get("small/empty").length);
    S3Upload.put(client, at("small/put"), ByteBuffer.wrap(content), Map.of());
    assertArrayEquals(content, get("small/put"));
  }

  @Test
  @Timeout(120)
  void anAbortedUploadLeavesNoObjectAndNoPendingUpload() throws Exception {
    byte[] content = new byte[12 * MIB];
    new Random(3).nextBytes(content);
    String key = "aborted/blob";
    S3Upload upload = S3Upload.start(client, at(key), heldHead());
    writeInChunks(upload, content, 0, content.length, new Random(4));
    assertEquals(1, pendingUploads(key).size(), "parts after the first were sent");
    upload.abort();
    assertNothingUnder(key);
    assertThrows(IllegalStateException.class, () -> upload.write(ByteBuffer.allocate(1)));
    upload.close();

    String closed = "closed/blob";
    try (S3Upload unfinished = S3Upload.start(client, at(closed), heldHead())) {
      writeInChunks(unfinished, content, 0, content.length, new Random(5));
    }
    assertNothingUnder(closed);
  }

  @Test
  @Timeout(120)
  void anInterruptAbortsTheUploadAndKeepsTheInterrupt() throws Exception {
    byte[] content = new byte[6 * MIB];
    String key = "interrupted/blob";
    S3UploadOptions options = S3UploadOptions.builder().partSize(5 * MIB).build();
    S3Upload upload = S3Upload.start(client, at(key), options);
    upload.write(ByteBuffer.wrap(content));
    Thread.currentThread().interrupt();
    try {
      assertThrows(InterruptedIOException.class, () -> upload.write(ByteBuffer.wrap(content)));
      assertTrue(Thread.currentThread().isInterrupted());
    } finally {
      Thread.interrupted();
    }
    assertNothingUnder(key);
  }

  @Test
  @Timeout(60)
  void anObjectLongerThanThePartsCanHoldIsRefusedAndAborted() throws Exception {
    S3UploadOptions options = S3UploadOptions.builder().partSize(5 * MIB).maxParts(2).build();
    String key = "toolong/blob";
    try (S3Upload upload = S3Upload.start(client, at(key), options)) {
      upload.write(ByteBuffer.allocate(10 * MIB));
      S3RequestException e =
          assertThrows(S3RequestException.class, () -> upload.write(ByteBuffer.allocate(1)));
      assertEquals(
          "s3://images/toolong/blob: the object is longer than 10485760 bytes, the most 2 parts of"
              + " 5242880 bytes hold; give the expected length to choose larger parts",
          e.getMessage());
      assertThrows(IllegalStateException.class, upload::finish);
    }
    assertNothingUnder(key);
  }

  @Test
  @Timeout(60)
  void anUploadToAMissingBucketFailsInOneLineAndLeavesNothing() throws Exception {
    S3UploadOptions options = S3UploadOptions.builder().partSize(5 * MIB).build();
    S3Location target = S3Location.parse("s3://no-such-bucket/x.qcow2");
    try (S3Upload upload = S3Upload.start(client, target, options)) {
      S3RequestException e =
          assertThrows(S3RequestException.class, () -> upload.write(ByteBuffer.allocate(6 * MIB)));
      assertEquals(Reason.NO_SUCH_BUCKET, e.reason());
      assertEquals("s3://no-such-bucket/x.qcow2: no such bucket", e.getMessage());
    }
  }
}
