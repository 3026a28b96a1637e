package dev.qcow2.nbd;

import dev.qcow2.BlockStatus;

/**
 * The metadata contexts the server offers for NBD_CMD_BLOCK_STATUS, and what a status descriptor
 * says in each.
 */
enum MetaContext {
  /**
   * The spec's context: NBD_STATE_HOLE for a run with no data, NBD_STATE_ZERO for one that reads
   * zeros.
   */
  BASE_ALLOCATION("base", "allocation"),
  /**
   * qemu's context: 0 where no image of the chain allocates the run, 1 where the served image does,
   * N where the image N - 1 levels down the backing chain does.
   */
  ALLOCATION_DEPTH("qemu", "allocation-depth");

  private final String namespace;
  private final String leaf;

  MetaContext(String namespace, String leaf) {
    this.namespace = namespace;
    this.leaf = leaf;
  }

  String fullName() {
    return namespace + ":" + leaf;
  }

  /** The context id sent in NBD_REP_META_CONTEXT and in each NBD_REPLY_TYPE_BLOCK_STATUS chunk. */
  int id() {
    return ordinal();
  }

  /**
   * Whether a client's query selects this context: its full name, or its namespace alone ({@code
   * "base:"}), which the spec lets a list query use for every context in it.
   */
  boolean matches(String query) {
    return query.equals(fullName()) || query.equals(namespace + ":");
  }

  /** The status value of a run in this context. */
  int value(BlockStatus st) {
    if (this == BASE_ALLOCATION) {
      return (st.data() ? 0 : Nbd.STATE_HOLE) | (st.zero() ? Nbd.STATE_ZERO : 0);
    }
    return st.present() ? st.depth() + 1 : 0;
  }
}
