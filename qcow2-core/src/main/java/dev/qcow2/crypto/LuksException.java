package dev.qcow2.crypto;

import java.io.IOException;

/**
 * A LUKS header we cannot use: damaged, asking for what the JDK lacks, or a passphrase that opens
 * none of its key slots. The offset is within the LUKS header region, or -1 where none applies; the
 * image layer adds where that region lies in its file.
 */
public final class LuksException extends IOException {
  private static final long serialVersionUID = 1L;

  /** What kind of problem: the image layer turns these into its own typed errors. */
  public enum Kind {
    /** A field holds a value the LUKS1 specification does not allow. */
    CORRUPT,
    /** A valid header asking for an algorithm or mode we do not implement. */
    UNSUPPORTED,
    /** No key slot opens with the passphrase given. */
    INVALID_PASSWORD
  }

  /** qemu's words for a passphrase that opens no key slot. */
  public static final String INVALID_PASSWORD_TEXT = "Invalid password, cannot unlock any keyslot";

  /** What went wrong. */
  private final Kind kind;

  /** Where in the LUKS header region, or -1. */
  private final long offset;

  /** The problem without a location. */
  private final String problem;

  /**
   * A LUKS failure.
   *
   * @param kind what went wrong
   * @param offset where in the LUKS header region, or -1
   * @param problem the problem without a location
   */
  public LuksException(Kind kind, long offset, String problem) {
    super(problem);
    this.kind = kind;
    this.offset = offset;
    this.problem = problem;
  }

  /**
   * What went wrong.
   *
   * @return the kind of failure
   */
  public Kind kind() {
    return kind;
  }

  /**
   * Where the bad value lies.
   *
   * @return the offset in the LUKS header region, or -1
   */
  public long offset() {
    return offset;
  }

  /**
   * The problem without a location.
   *
   * @return the problem, e.g. "key slot 3 stripes 7 is not 4000"
   */
  public String problem() {
    return problem;
  }
}
