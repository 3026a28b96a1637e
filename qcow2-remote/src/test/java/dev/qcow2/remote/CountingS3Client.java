package dev.qcow2.remote;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.atomic.AtomicLong;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectRequest;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectRequest;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;

/**
 * A client for reading that counts the body bytes of the objects it fetches, so that tests assert
 * on what was transferred. Only HeadObject and GetObject (as {@link S3RangeSource} sends them) are
 * passed on; any other request fails, as the SDK's defaults do.
 */
final class CountingS3Client implements S3Client {
  final AtomicLong bytes = new AtomicLong();
  final AtomicLong gets = new AtomicLong();
  private final S3Client delegate;

  CountingS3Client(S3Client delegate) {
    this.delegate = delegate;
  }

  @Override
  public HeadObjectResponse headObject(HeadObjectRequest request) {
    return delegate.headObject(request);
  }

  @Override
  public ResponseInputStream<GetObjectResponse> getObject(GetObjectRequest request) {
    gets.incrementAndGet();
    ResponseInputStream<GetObjectResponse> in = delegate.getObject(request);
    InputStream counting =
        new FilterInputStream(in) {
          @Override
          public int read() throws IOException {
            int b = super.read();
            if (b >= 0) {
              bytes.incrementAndGet();
            }
            return b;
          }

          @Override
          public int read(byte[] buf, int off, int len) throws IOException {
            int n = super.read(buf, off, len);
            if (n > 0) {
              bytes.addAndGet(n);
            }
            return n;
          }
        };
    return new ResponseInputStream<>(in.response(), counting);
  }

  @Override
  public software.amazon.awssdk.services.s3.S3ServiceClientConfiguration
      serviceClientConfiguration() {
    return delegate.serviceClientConfiguration();
  }

  @Override
  public String serviceName() {
    return delegate.serviceName();
  }

  @Override
  public void close() {
    // The delegate is the test server's.
  }
}
