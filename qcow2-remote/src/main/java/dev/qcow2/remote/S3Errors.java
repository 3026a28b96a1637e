package dev.qcow2.remote;

import dev.qcow2.remote.S3RequestException.Reason;
import software.amazon.awssdk.auth.credentials.AnonymousCredentialsProvider;
import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * Turns what the AWS SDK throws into one-line {@link S3RequestException}s. The only place that
 * knows S3's error codes.
 */
final class S3Errors {
  private S3Errors() {}

  /**
   * The typed error for a failed HeadObject of {@code location}. A HEAD reply has no body, so no
   * error code (the SDK makes one up from the status): for a 403 or 404 the same object is asked
   * for with a one-byte GET, whose reply says which of bucket, key or credentials is wrong.
   */
  static S3RequestException translateHead(S3Client client, S3Location location, SdkException e) {
    if (e instanceof S3Exception s && (s.statusCode() == 403 || s.statusCode() == 404)) {
      try {
        client
            .getObject(b -> b.bucket(location.bucket()).key(location.key()).range("bytes=0-0"))
            .close();
      } catch (S3Exception detailed) {
        if (code(detailed) != null) {
          return translate(client, location, detailed);
        }
      } catch (Exception ignored) {
        // The probe is only for a better message; the original error stands.
      }
    }
    return translate(client, location, e);
  }

  /** The typed error for a failed request about {@code location}, from the exception alone. */
  static S3RequestException translate(S3Client client, S3Location location, SdkException e) {
    String name = location.toString();
    if (e instanceof S3Exception s) {
      String code = code(s);
      int status = s.statusCode();
      if (status == 412 || "PreconditionFailed".equals(code)) {
        return new S3RequestException(
            name, Reason.CHANGED, "changed while being read (its ETag no longer matches)", e);
      }
      if ("NoSuchBucket".equals(code)) {
        return new S3RequestException(name, Reason.NO_SUCH_BUCKET, "no such bucket", e);
      }
      if ("NoSuchKey".equals(code) || (code == null && status == 404)) {
        return new S3RequestException(name, Reason.NO_SUCH_OBJECT, "no such object", e);
      }
      if ("InvalidAccessKeyId".equals(code)) {
        return new S3RequestException(
            name, Reason.BAD_CREDENTIALS, "the store does not know this access key ID", e);
      }
      if ("SignatureDoesNotMatch".equals(code)) {
        return new S3RequestException(
            name,
            Reason.BAD_CREDENTIALS,
            "the secret access key does not match the access key ID",
            e);
      }
      if ("ExpiredToken".equals(code)
          || "InvalidToken".equals(code)
          || "TokenRefreshRequired".equals(code)) {
        return new S3RequestException(
            name, Reason.BAD_CREDENTIALS, "the session token is expired or invalid", e);
      }
      if (status == 403) {
        String hint =
            isAnonymous(client)
                ? " (no credentials were found, so the request was sent unsigned; set AWS_ACCESS_KEY_ID"
                    + " and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
                : "";
        return new S3RequestException(name, Reason.ACCESS_DENIED, "access denied" + hint, e);
      }
      String what = status + (code != null ? " " + code : "");
      String message =
          s.awsErrorDetails() != null && s.awsErrorDetails().errorMessage() != null
              ? ": " + s.awsErrorDetails().errorMessage()
              : "";
      return new S3RequestException(name, Reason.FAILED, "the store answered " + what + message, e);
    }
    if (e instanceof SdkClientException) {
      return new S3RequestException(
          name, Reason.UNREACHABLE, "cannot reach the store: " + rootMessage(e), e);
    }
    return new S3RequestException(name, Reason.FAILED, rootMessage(e), e);
  }

  private static String code(S3Exception e) {
    AwsErrorDetails d = e.awsErrorDetails();
    return d == null ? null : d.errorCode();
  }

  private static boolean isAnonymous(S3Client client) {
    return client.serviceClientConfiguration().credentialsProvider()
        instanceof AnonymousCredentialsProvider;
  }

  /** The innermost cause's message: the SDK's own wrapping adds only advice about retries. */
  static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    String m = t.getMessage();
    return t.getClass().getSimpleName() + (m == null ? "" : ": " + m);
  }
}
