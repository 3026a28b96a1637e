package dev.qcow2.remote;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.remote.S3RequestException.Reason;
import dev.qcow2.testing.Qemu;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.auth.credentials.AnonymousCredentialsProvider;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/** Ranged reads of objects in s3proxy equal the bytes put, and every failure is one typed line. */
@Timeout(120)
class S3RangeSourceTest extends S3ServerTest {
  static void put(String key, byte[] content) {
    client.putObject(b -> b.bucket(BUCKET).key(key), RequestBody.fromBytes(content));
  }

  @Test
  @Timeout(60)
  void rangesEqualTheBytesPut() throws Exception {
    long seed = System.nanoTime();
    Random random = new Random(seed);
    byte[] content = new byte[3 << 20 | 12345];
    random.nextBytes(content);
    put("ranges/blob", content);
    try (S3RangeSource source = S3RangeSource.open(client, at("ranges/blob"))) {
      assertEquals(content.length, source.length());
      ByteBuffer all = ByteBuffer.allocateDirect(content.length);
      source.read(all, 0);
      byte[] whole = new byte[content.length];
      all.flip().get(whole);
      assertArrayEquals(content, whole, "whole object, seed " + seed);
      for (int i = 0; i < 40; i++) {
        int len = random.nextInt(200_000);
        int at = random.nextInt(content.length - len + 1);
        ByteBuffer dst = ByteBuffer.allocate(len + 7).position(7);
        source.read(dst, at);
        assertFalse(dst.hasRemaining());
        byte[] got = new byte[len];
        dst.position(7).get(got);
        byte[] want = java.util.Arrays.copyOfRange(content, at, at + len);
        assertArrayEquals(want, got, "range " + at + "+" + len + ", seed " + seed);
      }
      assertThrows(
          java.io.EOFException.class,
          () -> source.read(ByteBuffer.allocate(2), content.length - 1));
    }
  }

  @Test
  @Timeout(120)
  void qcow2ImageInABucketReadsAsQemuConvertsIt() throws Exception {
    Path work = Files.createDirectories(dir.resolve("qcow2"));
    Qemu.img(work, "create", "-q", "-f", "qcow2", "-o", "cluster_size=65536", "disk.qcow2", "24M");
    Qemu.io(
        work,
        "disk.qcow2",
        "write -P 0x5a 0 1M",
        "write -P 0xa5 5M 300k",
        "write -z 8M 1M",
        "write -P 0x11 16M 64k",
        "write -P 0x22 24510k 66k");
    Qemu.img(work, "convert", "-c", "-O", "qcow2", "disk.qcow2", "packed.qcow2");
    Path raw = Qemu.toRaw(work, "disk.qcow2", "disk.raw");
    byte[] expected = Files.readAllBytes(raw);
    for (String name : new String[] {"disk.qcow2", "packed.qcow2"}) {
      put("vm/" + name, Files.readAllBytes(work.resolve(name)));
      S3RangeSource source = S3RangeSource.open(client, at("vm/" + name));
      OpenOptions options = OpenOptions.builder().openBacking(false).build();
      try (DiskImage image =
          Qcow2Image.open(Path.of(source.name()), new S3TestStorage(source), options)) {
        assertEquals(expected.length, image.size());
        ByteBuffer all = ByteBuffer.allocate(expected.length);
        image.readFully(all, 0);
        assertArrayEquals(expected, all.array(), name + " read from the bucket");
      }
    }
  }

  @Test
  @Timeout(60)
  void anObjectReplacedMidReadGivesTheTypedError() throws Exception {
    byte[] first = new byte[200_000];
    new Random(1).nextBytes(first);
    put("changing/blob", first);
    try (S3RangeSource source = S3RangeSource.open(client, at("changing/blob"))) {
      source.read(ByteBuffer.allocate(1000), 0);
      byte[] second = first.clone();
      second[5] ^= 1;
      put("changing/blob", second);
      S3RequestException e =
          assertThrows(
              S3RequestException.class, () -> source.read(ByteBuffer.allocate(1000), 1000));
      assertEquals(Reason.CHANGED, e.reason());
      assertOneLine(e, "s3://images/changing/blob: changed while being read");
    }
  }

  @Test
  @Timeout(60)
  void aBackingNameResolvesInTheImageFolderOnly() throws Exception {
    put("repo/base.qcow2", new byte[] {1, 2, 3});
    put("repo/child.qcow2", new byte[] {4});
    put("elsewhere.qcow2", new byte[] {5});
    try (S3RangeSource child = S3RangeSource.open(client, at("repo/child.qcow2"));
        S3RangeSource base = child.resolve("base.qcow2")) {
      assertEquals("s3://images/repo/base.qcow2", base.name());
      assertEquals(3, base.length());
      for (String bad :
          new String[] {
            "../elsewhere.qcow2",
            "/elsewhere.qcow2",
            "s3://images/elsewhere.qcow2",
            "json:{}",
            "./base.qcow2",
            "a//b"
          }) {
        Exception e = assertThrows(java.io.IOException.class, () -> child.resolve(bad), bad);
        assertOneLine(e, "s3://images/repo/child.qcow2: backing file name \"" + bad + "\"");
      }
    }
  }

  @Test
  @Timeout(60)
  void aMissingBucketOrObjectIsOneTypedLine() throws Exception {
    S3RequestException noBucket =
        assertThrows(
            S3RequestException.class,
            () -> S3RangeSource.open(client, S3Location.parse("s3://no-such-bucket/x.qcow2")));
    assertEquals(Reason.NO_SUCH_BUCKET, noBucket.reason());
    assertOneLine(noBucket, "s3://no-such-bucket/x.qcow2: no such bucket");
    S3RequestException noKey =
        assertThrows(
            S3RequestException.class, () -> S3RangeSource.open(client, at("no/such.qcow2")));
    assertEquals(Reason.NO_SUCH_OBJECT, noKey.reason());
    assertOneLine(noKey, "s3://images/no/such.qcow2: no such object");
  }

  @Test
  @Timeout(60)
  void wrongCredentialsAreOneTypedLine() throws Exception {
    put("secret/blob", new byte[] {9});
    Map<String, String> env = server.env();
    env.put("AWS_SECRET_ACCESS_KEY", "not-the-secret");
    try (S3Client wrongSecret = S3Clients.create(env)) {
      S3RequestException e =
          assertThrows(
              S3RequestException.class, () -> S3RangeSource.open(wrongSecret, at("secret/blob")));
      assertEquals(Reason.BAD_CREDENTIALS, e.reason());
      assertOneLine(e, "s3://images/secret/blob: the secret access key does not match");
    }
    env.put("AWS_ACCESS_KEY_ID", "nobody");
    try (S3Client wrongKey = S3Clients.create(env)) {
      S3RequestException e =
          assertThrows(
              S3RequestException.class, () -> S3RangeSource.open(wrongKey, at("secret/blob")));
      assertEquals(Reason.BAD_CREDENTIALS, e.reason());
      assertOneLine(e, "s3://images/secret/blob: the store does not know this access key ID");
    }
  }

  @Test
  @Timeout(60)
  void withNoCredentialsRequestsGoUnsignedAndADenialSaysSo() throws Exception {
    put("private/blob", new byte[] {9});
    Map<String, String> env = server.env();
    env.remove("AWS_ACCESS_KEY_ID");
    env.remove("AWS_SECRET_ACCESS_KEY");
    try (S3Client anonymous = S3Clients.create(env)) {
      assertInstanceOf(
          AnonymousCredentialsProvider.class,
          anonymous.serviceClientConfiguration().credentialsProvider());
      S3RequestException e =
          assertThrows(
              S3RequestException.class, () -> S3RangeSource.open(anonymous, at("private/blob")));
      assertEquals(Reason.ACCESS_DENIED, e.reason());
      assertOneLine(e, "s3://images/private/blob: access denied (no credentials were found");
    }
  }

  @Test
  @Timeout(60)
  void anUnreachableEndpointIsOneTypedLine() throws Exception {
    Map<String, String> env = server.env();
    env.put("AWS_ENDPOINT_URL", "http://127.0.0.1:1");
    try (S3Client nowhere = S3Clients.create(env)) {
      S3RequestException e =
          assertThrows(S3RequestException.class, () -> S3RangeSource.open(nowhere, at("any/blob")));
      assertEquals(Reason.UNREACHABLE, e.reason());
      assertOneLine(e, "s3://images/any/blob: cannot reach the store");
    }
  }

  static void assertOneLine(Exception e, String start) {
    String m = e.getMessage();
    assertTrue(m.startsWith(start), m);
    assertFalse(m.contains("\n"), m);
  }
}
