package dev.qcow2;

/** The qcow2 structures that errors and reports name, in the specification's words. */
public enum Structure {
  /** The header: the image's first bytes, with its version, sizes and table offsets. */
  HEADER("header"),
  /** A header extension: the typed records that follow the header in cluster 0. */
  HEADER_EXTENSION("header extension"),
  /** The backing file name stored in the header's cluster. */
  BACKING_FILE_NAME("backing file name"),
  /** The chain of backing files as a whole (its depth, a loop, a file that is missing). */
  BACKING_CHAIN("backing chain"),
  /** The L1 table, whose entries point at L2 tables. */
  L1_TABLE("L1 table"),
  /** An L2 table, whose entries map guest clusters to host clusters. */
  L2_TABLE("L2 table"),
  /** The refcount table, whose entries point at refcount blocks. */
  REFCOUNT_TABLE("refcount table"),
  /** A refcount block, which counts the references to each host cluster. */
  REFCOUNT_BLOCK("refcount block"),
  /** A host cluster of guest data, stored plainly. */
  DATA_CLUSTER("data cluster"),
  /** A compressed cluster: its descriptor in an L2 entry or its compressed bytes. */
  COMPRESSED_CLUSTER("compressed cluster"),
  /** The internal snapshot table and the snapshots' own L1 tables. */
  SNAPSHOT_TABLE("snapshot table"),
  /** The directory of persistent dirty bitmaps. */
  BITMAP_DIRECTORY("bitmap directory"),
  /** The table of a persistent dirty bitmap: where its data clusters are. */
  BITMAP_TABLE("bitmap table"),
  /** The external data file that holds the guest data of an image that has one. */
  EXTERNAL_DATA_FILE("external data file"),
  /** The LUKS header an encrypted image's encryption header extension points to. */
  ENCRYPTION_HEADER("encryption header");

  private final String text;

  Structure(String text) {
    this.text = text;
  }

  /**
   * The structure as messages name it.
   *
   * @return its name in the specification's words, e.g. "L2 table"
   */
  public String text() {
    return text;
  }
}
