package dev.qcow2.remote;

/** The server says the object does not exist (HTTP 404, S3 NoSuchKey or NoSuchBucket). */
public class NoSuchObjectException extends RemoteObjectException {
  private static final long serialVersionUID = 1L;

  public NoSuchObjectException(String object, String problem) {
    super(object, problem);
  }
}
