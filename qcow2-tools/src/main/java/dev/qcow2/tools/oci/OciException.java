package dev.qcow2.tools.oci;

import java.io.IOException;

/**
 * A registry or layout failure, said in one line that names the registry, the repository and the
 * object: wrong credentials, a missing repository, manifest or blob, a blob whose bytes do not hash
 * to its digest, a malformed answer. {@link #kind} lets a caller tell them apart.
 */
public final class OciException extends IOException {
  private static final long serialVersionUID = 1L;

  /** What went wrong, as a caller would branch on it. */
  public enum Kind {
    /** 401: no credentials, or the registry or its token service refused them. */
    UNAUTHORIZED,
    /** 403: the credentials are valid but lack the right (push, pull). */
    DENIED,
    /** 404: the repository, manifest, tag or blob does not exist. */
    NOT_FOUND,
    /** The bytes received do not hash to the digest asked for, or exceed its size. */
    DIGEST_MISMATCH,
    /** An answer that breaks the distribution or image specification, or a bad reference. */
    INVALID,
    /** The registry failed (5xx after the retries) or could not be reached. */
    UNAVAILABLE
  }

  private final Kind kind;

  public OciException(Kind kind, String message) {
    super(message);
    this.kind = kind;
  }

  public OciException(Kind kind, String message, Throwable cause) {
    super(message, cause);
    this.kind = kind;
  }

  public Kind kind() {
    return kind;
  }
}
