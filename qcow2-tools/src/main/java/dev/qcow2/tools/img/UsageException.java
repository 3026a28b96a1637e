package dev.qcow2.tools.img;

/**
 * A command line the verb cannot run: an unknown option, a missing value or operand, values that
 * do not go together. Its message is the whole line the user sees after {@code qcow2: }.
 */
public final class UsageException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public UsageException(String message) {
    super(message);
  }
}
