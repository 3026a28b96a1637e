package dev.qcow2.remote;

/**
 * The object was replaced after we first read it (its ETag, length or modification time differ from
 * those pinned on first contact): reading on would mix two versions of it.
 */
public class ObjectChangedException extends RemoteObjectException {
  private static final long serialVersionUID = 1L;

  public ObjectChangedException(String object, String problem) {
    super(object, problem);
  }
}
