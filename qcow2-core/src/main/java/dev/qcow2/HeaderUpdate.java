package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The one way the header of an existing image changes: named fields set here are written by {@link
 * #writeTo} in one write, then made durable. Fields that must change together (the size with the L1
 * table, the refcount table with its order, the snapshot count with the table) so go to the file
 * together: they all lie in the first sector, which a crash never tears. Bytes between the changed
 * fields are read from the file first and written back as they were.
 *
 * <p>Rewriting the whole header cluster (a new backing file name, new extensions, a new version) is
 * {@link #rewriteCluster}.
 */
final class HeaderUpdate {
  private final Map<Header.Field, Long> values = new EnumMap<>(Header.Field.class);

  HeaderUpdate size(long size) {
    return set(Header.Field.SIZE, size);
  }

  /** l1_size and l1_table_offset. */
  HeaderUpdate l1Table(int l1Size, long offset) {
    return set(Header.Field.L1_SIZE, l1Size).set(Header.Field.L1_TABLE_OFFSET, offset);
  }

  /** refcount_table_offset and refcount_table_clusters. */
  HeaderUpdate refcountTable(long offset, int clusters) {
    return set(Header.Field.REFCOUNT_TABLE_OFFSET, offset)
        .set(Header.Field.REFCOUNT_TABLE_CLUSTERS, clusters);
  }

  HeaderUpdate refcountOrder(int order) {
    return set(Header.Field.REFCOUNT_ORDER, order);
  }

  /** nb_snapshots and snapshots_offset. */
  HeaderUpdate snapshotTable(int count, long offset) {
    return snapshotCount(count).set(Header.Field.SNAPSHOTS_OFFSET, offset);
  }

  HeaderUpdate snapshotCount(int count) {
    return set(Header.Field.NB_SNAPSHOTS, count);
  }

  /** Version 3 only, as every feature field and the refcount order. */
  HeaderUpdate incompatibleFeatures(long bits) {
    return set(Header.Field.INCOMPATIBLE_FEATURES, bits);
  }

  HeaderUpdate autoclearFeatures(long bits) {
    return set(Header.Field.AUTOCLEAR_FEATURES, bits);
  }

  private HeaderUpdate set(Header.Field field, long value) {
    values.put(field, value);
    return this;
  }

  /** Writes the changed fields in one write, then forces the file. */
  void writeTo(Storage storage) throws IOException {
    if (values.isEmpty()) {
      return;
    }
    int from = Integer.MAX_VALUE;
    int to = 0;
    for (Header.Field f : values.keySet()) {
      from = Math.min(from, f.offset);
      to = Math.max(to, f.offset + f.width);
    }
    if (to > Header.V2_HEADER_LENGTH) {
      // A version 2 header ends at byte 72, where its extensions begin.
      ByteBuffer version = ByteBuffer.allocate(Header.Field.VERSION.width);
      storage.readOrZero(version, Header.Field.VERSION.offset);
      if (Header.Field.VERSION.get(version, Header.Field.VERSION.offset) < 3) {
        throw new IllegalStateException(
            storage.name() + ": a version 2 header has no " + values.keySet());
      }
    }
    ByteBuffer span = ByteBuffer.allocate(to - from);
    storage.readOrZero(span, from);
    for (Map.Entry<Header.Field, Long> e : values.entrySet()) {
      e.getKey().put(span, from, e.getValue());
    }
    storage.write(span.clear(), from);
    storage.force();
  }

  /** {@code h} with the changed fields, as the file holds it after {@link #writeTo}. */
  Header applyTo(Header h) {
    return new Header(
        h.version(),
        h.backingFileOffset(),
        h.backingFileSize(),
        h.clusterBits(),
        get(Header.Field.SIZE, h.size()),
        h.cryptMethod(),
        (int) get(Header.Field.L1_SIZE, h.l1Size()),
        get(Header.Field.L1_TABLE_OFFSET, h.l1TableOffset()),
        get(Header.Field.REFCOUNT_TABLE_OFFSET, h.refcountTableOffset()),
        (int) get(Header.Field.REFCOUNT_TABLE_CLUSTERS, h.refcountTableClusters()),
        (int) get(Header.Field.NB_SNAPSHOTS, h.nbSnapshots()),
        get(Header.Field.SNAPSHOTS_OFFSET, h.snapshotsOffset()),
        get(Header.Field.INCOMPATIBLE_FEATURES, h.incompatibleFeatures()),
        h.compatibleFeatures(),
        get(Header.Field.AUTOCLEAR_FEATURES, h.autoclearFeatures()),
        (int) get(Header.Field.REFCOUNT_ORDER, h.refcountOrder()),
        h.headerLength(),
        h.compressionType(),
        h.extensions(),
        h.backingFileName());
  }

  private long get(Header.Field field, long current) {
    Long v = values.get(field);
    return v == null ? current : v;
  }

  /**
   * Rewrites cluster 0 in one write and forces the file: the header fields as given, the
   * extensions, the end marker and the backing file name (whose offset and length are set at 8 and
   * 16).
   */
  static void rewriteCluster(
      Storage storage,
      String image,
      int clusterSize,
      ByteBuffer fields,
      List<HeaderExtension> extensions,
      String backing)
      throws IOException {
    byte[] nameBytes = backing == null ? new byte[0] : backing.getBytes(StandardCharsets.UTF_8);
    int needed = fields.remaining() + 8 + nameBytes.length;
    for (HeaderExtension e : extensions) {
      needed += 8 + ((e.data().length + 7) & ~7);
    }
    if (needed > clusterSize || nameBytes.length > Header.MAX_BACKING_FILE_NAME) {
      throw new IllegalArgumentException(
          image + ": backing file name '" + backing + "' is too long for the header");
    }
    ByteBuffer b = ByteBuffer.allocate(clusterSize);
    b.put(fields.duplicate());
    for (HeaderExtension e : extensions) {
      b.putInt(e.type()).putInt(e.data().length).put(e.data());
      b.position(b.position() + ((8 - e.data().length % 8) % 8));
    }
    b.putInt(HeaderExtension.END).putInt(0);
    b.putLong(8, backing == null ? 0 : b.position());
    b.putInt(16, nameBytes.length);
    b.put(nameBytes);
    storage.write(b.clear(), 0);
    storage.force();
  }
}
