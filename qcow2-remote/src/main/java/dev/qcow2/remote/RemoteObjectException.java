package dev.qcow2.remote;

import java.io.IOException;

/**
 * A remote object could not be read: the server failed, timed out after its retries, or answered
 * something we cannot use. The message is one line that names the object's address.
 */
public class RemoteObjectException extends IOException {
  private static final long serialVersionUID = 1L;

  private final String object;

  public RemoteObjectException(String object, String problem) {
    this(object, problem, null);
  }

  public RemoteObjectException(String object, String problem, Throwable cause) {
    super(object + ": " + problem, cause);
    this.object = object;
  }

  /** The object's address, as the user gave it. */
  public String object() {
    return object;
  }
}
