package dev.qcow2.remote;

/**
 * The server does not answer range requests as HTTP requires (it sends the whole object, a range
 * other than the one asked for, or 416 for a range inside the object), so the object cannot be read
 * lazily. Its body is never read as the whole object.
 */
public class RangeNotSupportedException extends RemoteObjectException {
  private static final long serialVersionUID = 1L;

  public RangeNotSupportedException(String object, String problem) {
    super(object, problem);
  }
}
