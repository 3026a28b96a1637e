package dev.qcow2.remote;

/** The server refuses us the object (HTTP 401 or 403, S3 AccessDenied or bad credentials). */
public class ObjectAccessDeniedException extends RemoteObjectException {
  private static final long serialVersionUID = 1L;

  public ObjectAccessDeniedException(String object, String problem) {
    super(object, problem);
  }
}
