package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.util.BitSet;

/**
 * A new qcow2 image written front to back as one stream of bytes, for targets that cannot seek (a
 * pipe, an object store's upload). The layout:
 *
 * <pre>
 *  cluster 0                 header and extensions (as {@link ImageCreator} writes them)
 *  1 .. T                    refcount table
 *  1+T .. 1+T+L              L1 table
 *  data                      guest clusters in guest order: plain ones on cluster boundaries,
 *                            compressed ones packed after each other (qemu's qcow2_alloc_bytes)
 *  L2 tables                 one cluster each, for every L1 entry that maps data, in L1 order
 *  refcount blocks           covering every cluster of the file, themselves included
 * </pre>
 *
 * The head (header, refcount table, L1 table) points past the data, so it is known only once every
 * data cluster has its place. Two ways to get there:
 *
 * <ul>
 *   <li>{@link #headFirst}: every data cluster is {@linkplain #plan planned} (its guest offset and
 *       stored length) before any byte goes out; then {@link #head()}, the data, {@link #tail}. The
 *       data must match the plan cluster for cluster; a compressed cluster whose length differs
 *       from the planned one fails loudly (the compressor was not deterministic).
 *   <li>{@link #headLast}: for a target that takes its first {@link #headLength()} bytes after the
 *       rest. The refcount table is sized for the worst case (every cluster of the disk stored,
 *       compressed ones spilling into two host clusters), so that the data can start before its
 *       size is known; then the data, {@link #tail}, and {@link #head()} last.
 * </ul>
 *
 * Memory: one bit per guest cluster and, once a cluster is stored compressed, four bytes per stored
 * cluster; one cluster of tables at a time. Not thread-safe: one writer.
 */
public final class ForwardWriter {
  private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(1 << 16);

  private final CreateOptions options;
  private final ClusterGeometry g;
  private final int cs;
  private final int order;
  private final int perBlock;
  private final long refcountMax;
  private final long l1Entries;
  private final long l1Clusters;
  private final long guestClusters;
  private final boolean headLast;

  /** Guest clusters stored, by index; and their stored lengths in guest order (null: all plain). */
  private final BitSet stored = new BitSet();

  private int[] lengths;
  private int count;

  /** Refcount table clusters; fixed by {@link #head()} (head first) or at creation (head last). */
  private long tableClusters;

  private State state;

  /** Data pass: clusters written so far, the last one's guest index, and the host placement. */
  private int written;

  private long lastGuest = -1;
  private final Packer packer;

  private enum State {
    PLANNING,
    DATA,
    TAIL_WRITTEN,
    DONE
  }

  private ForwardWriter(CreateOptions o, boolean headLast) {
    if (o.backingFile() != null || o.dataFile() != null) {
      throw new IllegalArgumentException(
          "an image written as a stream cannot have a backing file or a data file");
    }
    if (o.preallocation() != CreateOptions.Preallocation.OFF) {
      throw new IllegalArgumentException("an image written as a stream cannot be preallocated");
    }
    this.options = o;
    this.g = new ClusterGeometry(Integer.numberOfTrailingZeros(o.clusterSize()), o.extendedL2());
    this.cs = g.clusterSize;
    this.order = Integer.numberOfTrailingZeros(o.refcountBits());
    this.perBlock = RefcountBlock.entries(cs, order);
    this.refcountMax = RefcountBlock.max(order);
    this.l1Entries = g.l1EntriesFor(o.size());
    this.l1Clusters = (l1Entries * 8 + cs - 1) / cs;
    this.guestClusters = (o.size() + cs - 1) / cs;
    if (guestClusters > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(
          "size "
              + o.size()
              + " has more than 2^31 clusters of "
              + cs
              + " bytes: too many to write as a stream; use larger clusters");
    }
    this.headLast = headLast;
    this.packer = new Packer();
    if (headLast) {
      // Worst case: every guest cluster stored, each compressed one touching two host clusters.
      this.tableClusters = tableClustersFor(2 * guestClusters * cs, l1Entries);
      this.state = State.DATA;
    } else {
      this.state = State.PLANNING;
    }
  }

  /**
   * A writer whose data is planned first, for targets that take the head first.
   *
   * @param options the new image's options: no backing file, data file or preallocation
   * @return a writer waiting for the plan
   * @throws IllegalArgumentException if {@code options} name a backing file, a data file or a
   *     preallocation, or the disk has more than 2^31 clusters
   */
  public static ForwardWriter headFirst(CreateOptions options) {
    return new ForwardWriter(options, false);
  }

  /**
   * A writer that sends the data first and the head last, for targets that allow it.
   *
   * @param options the new image's options: no backing file, data file or preallocation
   * @return a writer waiting for the data
   * @throws IllegalArgumentException if {@code options} name a backing file, a data file or a
   *     preallocation, or the disk has more than 2^31 clusters
   */
  public static ForwardWriter headLast(CreateOptions options) {
    return new ForwardWriter(options, true);
  }

  /**
   * The image's cluster size, the unit of {@link #plan} and {@link #writeData}.
   *
   * @return bytes per cluster, from the options
   */
  public int clusterSize() {
    return cs;
  }

  /**
   * A compressor for this image's compression type and cluster size, for any thread.
   *
   * @return a new compressor; close it when done
   */
  public ClusterCompressor newCompressor() {
    return new ClusterCompressor(options.compressionType(), cs);
  }

  /**
   * Records that the guest cluster at {@code guestOffset} will be stored with {@code length} bytes:
   * the cluster size for a plain cluster, else a compressed one's length. Clusters come in guest
   * order; head first only, before {@link #head()}.
   *
   * @param guestOffset the cluster's guest offset in bytes, cluster-aligned
   * @param length the bytes it will take in the file
   * @throws IllegalStateException if the writer is head last or the head was taken
   */
  public void plan(long guestOffset, int length) {
    if (state != State.PLANNING) {
      throw new IllegalStateException(
          "clusters are planned before the head is written, and only head first");
    }
    record(guestOffset, length);
  }

  /**
   * Whether a cluster in guest bytes [start, start + length) is planned (head first) or stored.
   *
   * @param start the first guest byte
   * @param length the bytes in the range
   * @return true if any cluster touching the range holds data
   */
  public boolean plansData(long start, long length) {
    int first = (int) (start / cs);
    int next = stored.nextSetBit(first);
    return next >= 0 && next < (start + length + cs - 1) / cs;
  }

  /**
   * The length of the head in bytes: header, refcount table and L1 table, whole clusters. Known
   * from the start head last; head first, once the plan is complete.
   *
   * @return the head's length in bytes
   * @throws IllegalStateException while the plan is still open
   */
  public long headLength() {
    if (state == State.PLANNING) {
      throw new IllegalStateException("the head's length is known once the plan is complete");
    }
    return dataStart();
  }

  /**
   * The head: the header cluster, the refcount table and the L1 table. Head first, this ends the
   * plan and comes before the data; head last, it comes after {@link #tail}.
   *
   * @return a new buffer of {@link #headLength()} bytes
   * @throws IllegalStateException if asked out of turn
   */
  public ByteBuffer head() {
    if (headLast ? state != State.TAIL_WRITTEN : state != State.PLANNING) {
      throw new IllegalStateException(
          headLast ? "the head comes after the tail" : "the head comes first, once");
    }
    if (!headLast) {
      tableClusters = tableClustersFor(dataBytes(), l2Tables());
      state = State.DATA;
    } else {
      state = State.DONE;
    }
    long tableOffset = cs;
    long l1Offset = tableOffset + tableClusters * cs;
    ByteBuffer head = ByteBuffer.allocate((int) dataStart());
    head.put(
        ImageCreator.headerCluster(
            options, g.clusterBits, l1Entries, l1Offset, tableOffset, tableClusters));
    long blocks = refcountBlocks();
    if (blocks * 8 > tableClusters * cs) {
      throw new IllegalStateException(
          blocks + " refcount blocks outgrow a table of " + tableClusters + " clusters");
    }
    long blocksOffset = refcountBlocksOffset();
    for (long b = 0; b < blocks; b++) {
      head.putLong((int) (tableOffset + b * 8), blocksOffset + b * cs);
    }
    long l2Offset = dataEnd();
    for (int i = nextTable(0); i >= 0; i = nextTable(i + 1)) {
      head.putLong((int) (l1Offset + (long) i * 8), L1Entry.owned(l2Offset));
      l2Offset += cs;
    }
    return head.clear();
  }

  /**
   * Writes the plain guest cluster at {@code guestOffset} (its bytes: a whole cluster, or the
   * disk's last, shorter one) to {@code out}, with the zeros that align it and fill it up.
   *
   * @param guestOffset the cluster's guest offset in bytes; clusters come in guest order
   * @param plain the cluster's bytes from position to limit, not changed
   * @param out the stream the image goes to
   * @throws IOException if {@code out} cannot be written, or (head first) the cluster is not the
   *     next planned one or its length differs from the plan
   * @throws IllegalArgumentException if {@code plain} is empty or longer than a cluster
   * @throws IllegalStateException if the data has not begun or is over
   */
  public void writeData(long guestOffset, ByteBuffer plain, WritableByteChannel out)
      throws IOException {
    if (plain.remaining() > cs || plain.remaining() == 0) {
      throw new IllegalArgumentException(
          "a plain cluster at " + guestOffset + " is " + plain.remaining() + " bytes");
    }
    long at = place(guestOffset, cs);
    pad(out, at);
    send(out, plain.duplicate());
    pad(out, at + cs);
  }

  /**
   * Writes the compressed guest cluster at {@code guestOffset} to {@code out}, packed.
   *
   * @param guestOffset the cluster's guest offset in bytes; clusters come in guest order
   * @param cluster a cluster compressed by {@link #newCompressor()}'s kind of compressor
   * @param out the stream the image goes to
   * @throws IOException if {@code out} cannot be written, or (head first) the cluster is not the
   *     next planned one or its length differs from the plan
   * @throws IllegalArgumentException if the cluster was compressed for another image
   * @throws IllegalStateException if the data has not begun or is over
   */
  public void writeCompressed(long guestOffset, CompressedCluster cluster, WritableByteChannel out)
      throws IOException {
    if (cluster.clusterSize() != cs || cluster.type() != options.compressionType()) {
      throw new IllegalArgumentException(
          "a cluster compressed for another image: "
              + cluster.type()
              + ", "
              + cluster.clusterSize()
              + " bytes");
    }
    long at = place(guestOffset, cluster.length());
    pad(out, at);
    send(out, cluster.bytes());
  }

  /**
   * Ends the data and writes the rest: the zeros up to the next cluster, the L2 tables and the
   * refcount blocks.
   *
   * @param out the stream the image goes to
   * @throws IOException if {@code out} cannot be written
   * @throws IllegalStateException if the data has not begun or the tail was written
   */
  public void tail(WritableByteChannel out) throws IOException {
    if (state != State.DATA) {
      throw new IllegalStateException("the tail follows the data, once");
    }
    if (!headLast && written != count) {
      throw new IOException(
          "the data ended after " + written + " of the " + count + " planned clusters");
    }
    pad(out, dataEnd());
    writeL2Tables(out);
    writeRefcountBlocks(out);
    state = headLast ? State.TAIL_WRITTEN : State.DONE;
  }

  // ---------------------------------------------------------------------------------------------

  private void record(long guestOffset, int length) {
    if (guestOffset % cs != 0 || guestOffset < 0 || guestOffset >= options.size()) {
      throw new IllegalArgumentException(
          "guest offset " + guestOffset + " is not a cluster of the disk");
    }
    int cluster = (int) (guestOffset / cs);
    if (cluster <= lastPlanned()) {
      throw new IllegalArgumentException(
          "guest cluster " + cluster + " comes after cluster " + lastPlanned());
    }
    if (length <= 0 || length > cs) {
      throw new IllegalArgumentException(
          "a stored cluster is 1 to " + cs + " bytes, not " + length);
    }
    if (length != cs && lengths == null) {
      lengths = new int[Math.max(16, count * 2)];
      java.util.Arrays.fill(lengths, 0, count, cs);
    }
    if (lengths != null) {
      if (count == lengths.length) {
        lengths = java.util.Arrays.copyOf(lengths, count * 2);
      }
      lengths[count] = length;
    }
    stored.set(cluster);
    count++;
  }

  private int lastPlanned() {
    return stored.length() - 1;
  }

  private int length(int rank) {
    return lengths == null ? cs : lengths[rank];
  }

  /** The host offset of the next data cluster, checked against the plan or recorded. */
  private long place(long guestOffset, int length) throws IOException {
    if (state != State.DATA) {
      throw new IllegalStateException("data goes after the head (head first) or before the tail");
    }
    if (headLast) {
      record(guestOffset, length);
    } else {
      long cluster = guestOffset / cs;
      int planned = written < count ? stored.nextSetBit((int) (lastGuest + 1)) : -1;
      if (planned != cluster || guestOffset % cs != 0) {
        throw new IOException(
            "guest cluster at "
                + guestOffset
                + " was not planned next (the plan has "
                + (planned < 0 ? "no more clusters" : "the one at " + (long) planned * cs)
                + "): the source changed");
      }
      if (length(written) != length) {
        throw new IOException(
            "guest cluster at "
                + guestOffset
                + " is stored in "
                + length
                + " bytes, but "
                + length(written)
                + " were planned: the source changed or compression is not deterministic");
      }
      lastGuest = cluster;
    }
    written++;
    return dataStart() + packer.place(length);
  }

  /** Sends zeros up to the host offset {@code to}. */
  private void pad(WritableByteChannel out, long to) throws IOException {
    long at;
    while ((at = dataStart() + packer.written) < to) {
      send(out, ZEROS.duplicate().limit((int) Math.min(to - at, ZEROS.capacity())));
    }
  }

  private void send(WritableByteChannel out, ByteBuffer b) throws IOException {
    packer.written += b.remaining();
    writeFully(out, b);
  }

  private static void writeFully(WritableByteChannel out, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      out.write(b);
    }
  }

  /**
   * Host placement of data, relative to the (cluster-aligned) start of the data: plain clusters on
   * cluster boundaries; compressed ones packed, a host cluster shared until its refcount would pass
   * the maximum (qemu's qcow2_alloc_bytes). Also counts the bytes already sent.
   */
  private final class Packer {
    long pos;
    long written;

    /** References to the host cluster that {@code pos} is in. */
    long refs;

    /** Places {@code length} bytes (a whole plain cluster when it is the cluster size). */
    long place(int length) {
      boolean shares = (pos & (cs - 1)) != 0;
      if (length == cs || (shares && Long.compareUnsigned(refs, refcountMax) >= 0)) {
        pos = (pos + cs - 1) & -(long) cs;
        shares = false;
      }
      long at = pos;
      long first = at / cs;
      long last = (at + length - 1) / cs;
      refs = shares && last == first ? refs + 1 : 1;
      pos = at + length;
      return at;
    }
  }

  /**
   * Walks the stored clusters in guest order, calling {@code visit(guestCluster, hostOffset,
   * length)}.
   */
  private void walk(Visit visit) throws IOException {
    Packer p = new Packer();
    int rank = 0;
    for (int c = stored.nextSetBit(0); c >= 0; c = stored.nextSetBit(c + 1)) {
      int length = length(rank++);
      visit.at(c, dataStart() + p.place(length), length);
    }
  }

  private interface Visit {
    void at(int guestCluster, long hostOffset, int length) throws IOException;
  }

  /** Bytes of data from the start of the data to the end of the last data cluster. */
  private long dataBytes() {
    if (state == State.DATA || state == State.TAIL_WRITTEN || state == State.DONE) {
      if (headLast || written == count) {
        return (packer.pos + cs - 1) & -(long) cs;
      }
    }
    Packer p = new Packer();
    for (int rank = 0; rank < count; rank++) {
      p.place(length(rank));
    }
    return (p.pos + cs - 1) & -(long) cs;
  }

  private long dataStart() {
    return (1 + tableClusters + l1Clusters) * cs;
  }

  private long dataEnd() {
    return dataStart() + dataBytes();
  }

  /** The number of L2 tables: L1 entries that map a stored cluster. */
  private long l2Tables() {
    long n = 0;
    for (int i = nextTable(0); i >= 0; i = nextTable(i + 1)) {
      n++;
    }
    return n;
  }

  /** The first L1 index at or after {@code from} whose range holds a stored cluster, or -1. */
  private int nextTable(int from) {
    long firstCluster = (long) from << g.l2Bits;
    if (firstCluster > Integer.MAX_VALUE) {
      return -1;
    }
    int c = stored.nextSetBit((int) firstCluster);
    return c < 0 ? -1 : (int) ((long) c >>> g.l2Bits);
  }

  private long refcountBlocksOffset() {
    return dataEnd() + l2Tables() * cs;
  }

  /** Refcount blocks for every cluster up to and including themselves. */
  private long refcountBlocks() {
    return blocksFor(refcountBlocksOffset() / cs);
  }

  private long blocksFor(long clustersBefore) {
    long blocks = 0;
    while (true) {
      long need = (clustersBefore + blocks + perBlock - 1) / perBlock;
      if (need <= blocks) {
        return blocks;
      }
      blocks = need;
    }
  }

  /** The fewest refcount table clusters for {@code dataBytes} of data and {@code l2} L2 tables. */
  private long tableClustersFor(long dataBytes, long l2) {
    long t = 1;
    while (true) {
      long before = 1 + t + l1Clusters + dataBytes / cs + l2;
      long blocks = blocksFor(before);
      long need = (blocks * 8 + cs - 1) / cs;
      if (need <= t) {
        if (t * cs > Header.MAX_REFCOUNT_TABLE_BYTES) {
          throw new IllegalArgumentException(
              "the refcount table would need "
                  + t * cs
                  + " bytes, over qemu's limit of "
                  + Header.MAX_REFCOUNT_TABLE_BYTES
                  + ": use larger clusters");
        }
        return t;
      }
      t = need;
    }
  }

  private void writeL2Tables(WritableByteChannel out) throws IOException {
    ByteBuffer table = ByteBuffer.allocate(cs);
    int[] current = {-1};
    int k = g.extendedL2 ? 2 : 1;
    walk(
        (guest, host, length) -> {
          int l1 = guest >>> g.l2Bits;
          if (l1 != current[0]) {
            if (current[0] >= 0) {
              writeFully(out, table.clear());
              java.util.Arrays.fill(table.array(), (byte) 0);
            }
            current[0] = l1;
          }
          int index = guest & (g.l2Entries - 1);
          long entry =
              length == cs
                  ? L2Entry.owned(host)
                  : CompressedDescriptor.entry(host, length, g.clusterBits);
          table.putLong(index * k * 8, entry);
          if (g.extendedL2 && length == cs) {
            // Every subcluster allocated: the whole cluster was written.
            table.putLong(index * k * 8 + 8, 0xffffffffL);
          }
        });
    if (current[0] >= 0) {
      writeFully(out, table.clear());
    }
  }

  /**
   * The refcount blocks: one reference per structure cluster, per plain or compressed cluster
   * touching a data cluster.
   */
  private void writeRefcountBlocks(WritableByteChannel out) throws IOException {
    Refs refs = new Refs(out);
    long dataStartCluster = dataStart() / cs;
    refs.addRange(0, dataStartCluster);
    walk(
        (guest, host, length) -> {
          for (long c = host / cs; c <= (host + length - 1) / cs; c++) {
            refs.add(c);
          }
        });
    long l2Start = dataEnd() / cs;
    long blocksStart = refcountBlocksOffset() / cs;
    long blocks = refcountBlocks();
    refs.addRange(l2Start, blocksStart);
    refs.addRange(blocksStart, blocksStart + blocks);
    refs.finish(blocks);
  }

  /** Refcount blocks filled in host order and written as each is complete. */
  private final class Refs {
    private final WritableByteChannel out;
    private final byte[] block = new byte[cs];
    private long index;

    Refs(WritableByteChannel out) {
      this.out = out;
    }

    void addRange(long from, long to) throws IOException {
      for (long c = from; c < to; c++) {
        add(c);
      }
    }

    void add(long cluster) throws IOException {
      while (cluster >= (index + 1) * perBlock) {
        emit();
      }
      int i = (int) (cluster - index * perBlock);
      RefcountBlock.set(block, i, order, RefcountBlock.get(block, i, order) + 1);
    }

    void finish(long blocks) throws IOException {
      while (index < blocks) {
        emit();
      }
    }

    private void emit() throws IOException {
      writeFully(out, ByteBuffer.wrap(block));
      java.util.Arrays.fill(block, (byte) 0);
      index++;
    }
  }
}
