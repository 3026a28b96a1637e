package dev.qcow2.tools.cli;

/**
 * A command line the verb cannot run: an unknown option, a missing value or operand, values that do
 * not go together. Its message is the whole line the user sees after {@code qcow2: }.
 */
public final class UsageException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final int exitCode;

  public UsageException(String message) {
    this(message, 1);
  }

  /** With the exit code qemu-img gives for this mistake where it is not 1 (compare's 2). */
  public UsageException(String message, int exitCode) {
    super(message);
    this.exitCode = exitCode;
  }

  public int exitCode() {
    return exitCode;
  }
}
