package dev.qcow2.remote;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.remote.S3RequestException.Reason;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.AbortableInputStream;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;

/**
 * Replies that a real store gives only now and then, made on purpose by a client that wraps the
 * real one: bodies cut off mid-transfer, a store that ignores If-Match or Range, part uploads that
 * fail. Also several threads reading one object at once.
 */
@Timeout(120)
class S3FaultsTest extends S3ServerTest {
  static byte[] putRandom(String key, int length, long seed) {
    byte[] content = new byte[length];
    new Random(seed).nextBytes(content);
    client.putObject(b -> b.bucket(BUCKET).key(key), RequestBody.fromBytes(content));
    return content;
  }

  /** The real client, except that every GetObject's reply goes through {@code change}. */
  @SuppressWarnings("unchecked")
  static S3Client changingGets(UnaryOperator<ResponseInputStream<GetObjectResponse>> change) {
    return wrap(
        (method, args) -> {
          Object result = method.invoke(client, args);
          return method.getName().equals("getObject") && result instanceof ResponseInputStream<?> r
              ? change.apply((ResponseInputStream<GetObjectResponse>) r)
              : result;
        });
  }

  interface Call {
    Object invoke(java.lang.reflect.Method method, Object[] args) throws Throwable;
  }

  static S3Client wrap(Call call) {
    InvocationHandler h =
        (proxy, method, args) -> {
          try {
            return call.invoke(method, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        };
    return (S3Client)
        Proxy.newProxyInstance(S3Client.class.getClassLoader(), new Class<?>[] {S3Client.class}, h);
  }

  /** A body that breaks with a connection reset after {@code limit} bytes. */
  static ResponseInputStream<GetObjectResponse> cutAfter(
      ResponseInputStream<GetObjectResponse> r, int limit) {
    InputStream cut =
        new FilterInputStream(r) {
          int left = limit;

          @Override
          public int read(byte[] b, int off, int len) throws IOException {
            if (left <= 0) {
              throw new SocketException("Connection reset");
            }
            int n = super.read(b, off, Math.min(len, left));
            left -= Math.max(n, 0);
            return n;
          }
        };
    return new ResponseInputStream<>(r.response(), AbortableInputStream.create(cut));
  }

  @Test
  void aBodyCutOffIsTakenUpWhereItStopped() throws Exception {
    byte[] content = putRandom("cut/blob", 2 << 20, 1);
    AtomicInteger gets = new AtomicInteger();
    S3Client flaky = changingGets(r -> gets.incrementAndGet() <= 2 ? cutAfter(r, 300_000) : r);
    try (S3RangeSource source = S3RangeSource.open(flaky, at("cut/blob"))) {
      ByteBuffer all = ByteBuffer.allocate(content.length);
      source.read(all, 0);
      assertArrayEquals(content, all.array());
      assertEquals(3, gets.get(), "two cut replies, then the rest in one");
    }
  }

  @Test
  void aBodyCutOffAgainAndAgainIsOneTypedLine() throws Exception {
    putRandom("cut/always", 1 << 20, 2);
    AtomicInteger gets = new AtomicInteger();
    S3Client broken =
        changingGets(
            r -> {
              gets.incrementAndGet();
              return cutAfter(r, 1000);
            });
    try (S3RangeSource source = S3RangeSource.open(broken, at("cut/always"))) {
      S3RequestException e =
          assertThrows(
              S3RequestException.class, () -> source.read(ByteBuffer.allocate(1 << 20), 0));
      assertEquals(Reason.FAILED, e.reason());
      assertEquals(
          "s3://images/cut/always: the reply for bytes 2000 to 1048575 was cut off 3 times:"
              + " SocketException: Connection reset",
          e.getMessage());
      assertEquals(S3RangeSource.BODY_ATTEMPTS, gets.get());
    }
  }

  @Test
  void aStoreThatIgnoresIfMatchStillCannotMixVersions() throws Exception {
    putRandom("etag/blob", 10_000, 3);
    S3Client ignoring =
        changingGets(
            r ->
                new ResponseInputStream<>(
                    r.response().toBuilder().eTag("\"another-version\"").build(),
                    AbortableInputStream.create(r)));
    try (S3RangeSource source = S3RangeSource.open(ignoring, at("etag/blob"))) {
      S3RequestException e =
          assertThrows(S3RequestException.class, () -> source.read(ByteBuffer.allocate(10), 0));
      assertEquals(Reason.CHANGED, e.reason());
      assertTrue(
          e.getMessage()
              .startsWith(
                  "s3://images/etag/blob: changed while being read (ETag \"another-version\""),
          e.getMessage());
    }
  }

  @Test
  void aStoreThatIgnoresRangeIsRefused() throws Exception {
    putRandom("range/blob", 10_000, 4);
    S3Client whole =
        changingGets(
            r ->
                new ResponseInputStream<>(
                    r.response().toBuilder().contentRange(null).contentLength(10_000L).build(),
                    AbortableInputStream.create(r)));
    try (S3RangeSource source = S3RangeSource.open(whole, at("range/blob"))) {
      S3RequestException e =
          assertThrows(S3RequestException.class, () -> source.read(ByteBuffer.allocate(10), 100));
      assertEquals(Reason.FAILED, e.reason());
      assertEquals(
          "s3://images/range/blob: the store ignored the range request (asked for 10 bytes at 100)",
          e.getMessage());
    }
  }

  @Test
  void severalThreadsReadOneObjectAtOnce() throws Exception {
    long seed = System.nanoTime();
    byte[] content = putRandom("threads/blob", 4 << 20, seed);
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try (S3RangeSource source = S3RangeSource.open(client, at("threads/blob"))) {
      List<Future<?>> reads = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        Random random = new Random(seed + t);
        reads.add(
            pool.submit(
                () -> {
                  for (int i = 0; i < 25; i++) {
                    int len = 1 + random.nextInt(100_000);
                    int at = random.nextInt(content.length - len);
                    ByteBuffer dst = ByteBuffer.allocate(len);
                    source.read(dst, at);
                    assertArrayEquals(
                        java.util.Arrays.copyOfRange(content, at, at + len),
                        dst.array(),
                        "range " + at + "+" + len + ", seed " + seed);
                  }
                  return null;
                }));
      }
      for (Future<?> f : reads) {
        f.get();
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void aSlowStoreHoldsTheWriterWithinTheBufferedParts() throws Exception {
    S3Client slow =
        wrap(
            (method, args) -> {
              if (method.getName().equals("uploadPart")) {
                Thread.sleep(150);
              }
              return method.invoke(client, args);
            });
    long seed = System.nanoTime();
    byte[] content = new byte[(42 << 20) + 17];
    new Random(seed).nextBytes(content);
    S3UploadOptions options =
        S3UploadOptions.builder()
            .partSize(5 << 20)
            .holdFirstPart(true)
            .threads(2)
            .bufferedParts(3)
            .build();
    try (S3Upload upload = S3Upload.start(slow, at("slow/blob"), options)) {
      for (int at = 0; at < content.length; at += 1 << 20) {
        upload.write(ByteBuffer.wrap(content, at, Math.min(1 << 20, content.length - at)));
      }
      upload.finish();
      assertEquals(9, upload.partsUploaded());
      assertTrue(upload.partBuffers() <= 3, upload.partBuffers() + " part buffers");
    }
    assertArrayEquals(
        content,
        client.getObjectAsBytes(b -> b.bucket(BUCKET).key("slow/blob")).asByteArray(),
        "seed " + seed);
  }

  @Test
  void aFailingPartAbortsTheUploadAndLeavesNothing() throws Exception {
    AtomicInteger parts = new AtomicInteger();
    S3Client failing =
        wrap(
            (method, args) -> {
              if (method.getName().equals("uploadPart") && parts.incrementAndGet() == 2) {
                throw SdkClientException.create("Unable to execute HTTP request: Connection reset");
              }
              return method.invoke(client, args);
            });
    String key = "failing/blob";
    S3UploadOptions options =
        S3UploadOptions.builder()
            .partSize(5 << 20)
            .holdFirstPart(true)
            .threads(1)
            .bufferedParts(1)
            .build();
    byte[] content = new byte[20 << 20];
    S3RequestException e;
    try (S3Upload upload = S3Upload.start(failing, at(key), options)) {
      e =
          assertThrows(
              S3RequestException.class,
              () -> {
                for (int at = 0; at < content.length; at += 1 << 20) {
                  upload.write(ByteBuffer.wrap(content, at, 1 << 20));
                }
                upload.finish();
              });
    }
    assertEquals(Reason.UNREACHABLE, e.reason());
    assertEquals(
        "s3://images/failing/blob: cannot reach the store: SdkClientException: Unable to execute HTTP request:"
            + " Connection reset",
        e.getMessage());
    assertThrows(NoSuchKeyException.class, () -> client.headObject(b -> b.bucket(BUCKET).key(key)));
    assertEquals(
        List.of(), client.listMultipartUploads(b -> b.bucket(BUCKET).prefix(key)).uploads());
  }
}
