package dev.qcow2.nbd;

import dev.qcow2.BlockStatus;

/**
 * A metadata context the server offers for NBD_CMD_BLOCK_STATUS: its id, its full name, and what a
 * status descriptor says in it. The export numbers its contexts once, so an id means the same
 * context for the whole of every connection, as NBD_REP_META_CONTEXT promises.
 *
 * @param id the id sent in NBD_REP_META_CONTEXT and in each NBD_REPLY_TYPE_BLOCK_STATUS chunk
 * @param name the full name, namespace first ({@code base:allocation})
 * @param bitmap the persistent dirty bitmap a {@code qemu:dirty-bitmap:NAME} context shows, or null
 */
record MetaContext(int id, String name, String bitmap) {
  /**
   * The spec's context: NBD_STATE_HOLE for a run with no data, NBD_STATE_ZERO for one that reads
   * zeros.
   */
  static final MetaContext BASE_ALLOCATION = new MetaContext(0, "base:allocation", null);

  /**
   * qemu's context: 0 where no image of the chain allocates the run, 1 where the served image does,
   * N where the image N - 1 levels down the backing chain does.
   */
  static final MetaContext ALLOCATION_DEPTH = new MetaContext(1, "qemu:allocation-depth", null);

  private static final String BITMAP_PREFIX = "qemu:dirty-bitmap:";

  /**
   * qemu's context for a persistent dirty bitmap: NBD_STATE_DIRTY for a run the bitmap marks, 0 for
   * one it does not.
   */
  static MetaContext dirtyBitmap(int id, String bitmap) {
    return new MetaContext(id, BITMAP_PREFIX + bitmap, bitmap);
  }

  /**
   * Whether a client's query selects this context: its full name; or, in NBD_OPT_LIST_META_CONTEXT
   * only, its namespace alone ({@code "base:"}, {@code "qemu:"}) or {@code "qemu:dirty-bitmap:"}
   * for every bitmap. qemu-nbd takes these wildcards in a list query and selects nothing with them
   * in NBD_OPT_SET_META_CONTEXT, so a client sets exactly the contexts it names.
   */
  boolean matches(String query, boolean list) {
    if (query.equals(name)) {
      return true;
    }
    return list
        && (query.equals(name.substring(0, name.indexOf(':') + 1))
            || (bitmap != null && query.equals(BITMAP_PREFIX)));
  }

  /** The status value of a run in this context; bitmap contexts are answered by the export. */
  int value(BlockStatus st) {
    if (equals(BASE_ALLOCATION)) {
      return (st.data() ? 0 : Nbd.STATE_HOLE) | (st.zero() ? Nbd.STATE_ZERO : 0);
    }
    return st.present() ? st.depth() + 1 : 0;
  }
}
