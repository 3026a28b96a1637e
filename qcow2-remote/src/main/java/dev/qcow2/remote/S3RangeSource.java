package dev.qcow2.remote;

import dev.qcow2.remote.S3RequestException.Reason;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;

/**
 * An object in an S3-compatible store read by ranges ({@code s3://BUCKET/KEY}).
 *
 * <p>The object is pinned on first contact: a HeadObject gives its length and ETag, and every
 * ranged GetObject sends that ETag back as {@code If-Match}, so a replaced object answers 412, and
 * a reply whose ETag differs anyway (a store that ignores {@code If-Match}) is refused too: either
 * way the read fails with {@link Reason#CHANGED}, never mixing two versions.
 *
 * <p>Failures of a request are retried by the SDK (bounded, see {@link S3Clients}); a body cut off
 * mid-transfer (a connection reset after the headers) is taken up again where it stopped, at most
 * {@value #BODY_ATTEMPTS} times in all. Thread-safe: every read is its own request. Closing does
 * not close the client, which the caller owns.
 */
public final class S3RangeSource implements RangeSource {
  static final int BODY_ATTEMPTS = 3;

  private final S3Client client;
  private final S3Location location;
  private final long length;
  private final String etag;

  private S3RangeSource(S3Client client, S3Location location, long length, String etag) {
    this.client = client;
    this.location = location;
    this.length = length;
    this.etag = etag;
  }

  /** Opens {@code s3://BUCKET/KEY} with the shared client configured from the environment. */
  public static S3RangeSource open(String name) throws IOException {
    return open(S3Clients.shared(), S3Location.parse(name));
  }

  /** Opens an object, pinning its length and ETag with one HeadObject. */
  public static S3RangeSource open(S3Client client, S3Location location) throws IOException {
    if (!location.isObject()) {
      throw new S3RequestException(
          location.toString(), Reason.NO_SUCH_OBJECT, "names a folder, not an object");
    }
    HeadObjectResponse head;
    try {
      head = client.headObject(b -> b.bucket(location.bucket()).key(location.key()));
    } catch (SdkException e) {
      throw S3Errors.translateHead(client, location, e);
    }
    if (head.contentLength() == null || head.contentLength() < 0) {
      throw new S3RequestException(
          location.toString(), Reason.FAILED, "the store gave no length for the object");
    }
    return new S3RangeSource(client, location, head.contentLength(), head.eTag());
  }

  public S3Location location() {
    return location;
  }

  /** The backing file {@code name} that this object's image names, in the same folder. */
  public S3RangeSource resolve(String name) throws IOException {
    return open(client, location.resolve(name));
  }

  @Override
  public String name() {
    return location.toString();
  }

  @Override
  public long length() {
    return length;
  }

  @Override
  public void read(ByteBuffer[] dsts, long position) throws IOException {
    long total = ScatterBuffers.remaining(dsts);
    if (position < 0 || position > length - total) {
      throw new EOFException(
          name()
              + ": a read of "
              + total
              + " bytes at "
              + position
              + " passes the end of the object ("
              + length
              + " bytes)");
    }
    long last = position + total - 1;
    for (int attempt = 1; ScatterBuffers.remaining(dsts) > 0; attempt++) {
      // A body cut off keeps what it brought: the next attempt asks for the rest.
      long left = ScatterBuffers.remaining(dsts);
      long from = position + (total - left);
      try (ResponseInputStream<GetObjectResponse> in = get(from, last)) {
        checkReply(in.response(), from, left);
        for (ByteBuffer dst : dsts) {
          copy(in, dst);
        }
      } catch (IOException e) {
        if (e instanceof S3RequestException
            || e instanceof InterruptedIOException
            || attempt >= BODY_ATTEMPTS) {
          throw e instanceof S3RequestException
              ? e
              : new S3RequestException(
                  name(),
                  Reason.FAILED,
                  "the reply for bytes "
                      + from
                      + " to "
                      + last
                      + " was cut off "
                      + attempt
                      + " times: "
                      + S3Errors.rootMessage(e),
                  e);
        }
        pause(attempt);
      } catch (SdkException e) {
        // An interrupt while reading the body, for one, comes as the SDK's AbortedException.
        throw S3Errors.translate(client, location, e);
      }
    }
  }

  private ResponseInputStream<GetObjectResponse> get(long first, long last)
      throws S3RequestException {
    try {
      return client.getObject(
          b ->
              b.bucket(location.bucket())
                  .key(location.key())
                  .range("bytes=" + first + "-" + last)
                  .ifMatch(etag));
    } catch (SdkException e) {
      throw S3Errors.translate(client, location, e);
    }
  }

  /** A reply for another version or another range is never read as this one. */
  private void checkReply(GetObjectResponse r, long first, long count) throws S3RequestException {
    if (etag != null && r.eTag() != null && !etag.equals(r.eTag())) {
      throw new S3RequestException(
          name(),
          Reason.CHANGED,
          "changed while being read (ETag " + r.eTag() + ", was " + etag + ")");
    }
    String expected = "bytes " + first + "-" + (first + count - 1) + "/" + length;
    if (r.contentRange() != null && !r.contentRange().equals(expected)) {
      throw new S3RequestException(
          name(),
          r.contentRange().endsWith("/" + length) ? Reason.FAILED : Reason.CHANGED,
          "asked for \"" + expected + "\", the store answered \"" + r.contentRange() + "\"");
    }
    if (r.contentRange() == null && (r.contentLength() == null || r.contentLength() != count)) {
      throw new S3RequestException(
          name(),
          Reason.FAILED,
          "the store ignored the range request (asked for " + count + " bytes at " + first + ")");
    }
  }

  private static void copy(InputStream in, ByteBuffer dst) throws IOException {
    byte[] chunk = dst.hasArray() ? null : new byte[(int) Math.min(dst.remaining(), 64 << 10)];
    while (dst.hasRemaining()) {
      int n =
          chunk == null
              ? in.read(dst.array(), dst.arrayOffset() + dst.position(), dst.remaining())
              : in.read(chunk, 0, Math.min(chunk.length, dst.remaining()));
      if (n < 0) {
        throw new EOFException("the body ended " + dst.remaining() + " bytes early");
      }
      if (chunk == null) {
        dst.position(dst.position() + n);
      } else {
        dst.put(chunk, 0, n);
      }
    }
  }

  private static void pause(int attempt) throws InterruptedIOException {
    try {
      Thread.sleep(100L << (2 * (attempt - 1)));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while waiting to retry a read");
    }
  }

  @Override
  public void close() {
    // The client is the caller's; a range source holds nothing else.
  }
}
