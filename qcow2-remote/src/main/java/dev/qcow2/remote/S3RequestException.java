package dev.qcow2.remote;

import java.io.IOException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * A request to an S3-compatible store that failed for a reason the user can act on: a missing
 * bucket or object, refused credentials, an object replaced while it was read, an endpoint that
 * cannot be reached. The message is one line, {@code s3://BUCKET/KEY: <what went wrong>}, meant to
 * be shown as it is.
 */
public final class S3RequestException extends IOException {
  private static final long serialVersionUID = 1L;

  /** What went wrong, for callers that react differently to each. */
  public enum Reason {
    NO_SUCH_BUCKET,
    NO_SUCH_OBJECT,
    /** The store did not accept the access key or the signature. */
    BAD_CREDENTIALS,
    /** The credentials were accepted (or there were none) but do not allow the request. */
    ACCESS_DENIED,
    /** The object was replaced or deleted after it was first seen. */
    CHANGED,
    /** No answer from the endpoint: connection refused, timed out, name not resolved. */
    UNREACHABLE,
    /** Anything else the store answered: server errors after the retries, odd replies. */
    FAILED
  }

  private final Reason reason;

  public S3RequestException(String name, Reason reason, String problem, Throwable cause) {
    super(name + ": " + oneLine(problem), cause);
    this.reason = reason;
  }

  public S3RequestException(String name, Reason reason, String problem) {
    this(name, reason, problem, null);
  }

  /**
   * The typed error for what the SDK threw in a request about {@code location}, for callers that
   * make their own requests (listing, deleting) with a client of {@link S3Clients}.
   */
  public static S3RequestException of(S3Client client, S3Location location, SdkException e) {
    return S3Errors.translate(client, location, e);
  }

  public Reason reason() {
    return reason;
  }

  private static String oneLine(String s) {
    return s.replaceAll("\\s*[\\r\\n]+\\s*", " ").strip();
  }
}
