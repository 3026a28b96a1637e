package dev.qcow2;

/** The qcow2 structures that errors and reports name, in the specification's words. */
public enum Structure {
  HEADER("header"),
  HEADER_EXTENSION("header extension"),
  BACKING_FILE_NAME("backing file name"),
  BACKING_CHAIN("backing chain"),
  L1_TABLE("L1 table"),
  L2_TABLE("L2 table"),
  REFCOUNT_TABLE("refcount table"),
  REFCOUNT_BLOCK("refcount block"),
  DATA_CLUSTER("data cluster"),
  COMPRESSED_CLUSTER("compressed cluster"),
  SNAPSHOT_TABLE("snapshot table"),
  BITMAP_DIRECTORY("bitmap directory"),
  EXTERNAL_DATA_FILE("external data file"),
  ENCRYPTION_HEADER("encryption header");

  private final String text;

  Structure(String text) {
    this.text = text;
  }

  /** The structure as it is written in messages, e.g. "L2 table". */
  public String text() {
    return text;
  }
}
