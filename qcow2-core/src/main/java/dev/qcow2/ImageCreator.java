package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Writes a new, empty qcow2 file with qemu-img's layout: the header and its extensions in cluster
 * 0, then the refcount table, the refcount blocks and the L1 table. Like qemu, the file ends where
 * the L1 table ends, without padding to a whole cluster.
 */
final class ImageCreator {
  private ImageCreator() {}

  /**
   * As {@link Qcow2Image#create(Path, CreateOptions, OpenOptions)}: writes the image, opens it,
   * preallocates.
   */
  static Qcow2Image create(Path path, CreateOptions options, OpenOptions openOptions)
      throws IOException {
    if (Files.exists(path) && WriterRegistry.isOpenForWriting(path.toRealPath())) {
      throw new java.nio.file.FileSystemException(
          path.toString(), null, "image is already open for writing in this process");
    }
    if (openOptions.readsSnapshot()) {
      // Refused before anything is written: a new image has no snapshot, and is opened writable.
      throw new IllegalArgumentException(
          path + ": a new image is opened writable, not at a snapshot");
    }
    write(path, options, ImageEncryption.format(path.toString(), options, openOptions));
    Qcow2Image image = Qcow2Image.open(path, openOptions.toBuilder().writable(true).build());
    CreateOptions.Preallocation prealloc = options.preallocation();
    if (options.dataFileRaw() && prealloc == CreateOptions.Preallocation.OFF) {
      // A raw data file must map every guest cluster to itself, as qemu-img create makes it.
      prealloc = CreateOptions.Preallocation.METADATA;
    }
    if (prealloc != CreateOptions.Preallocation.OFF) {
      try {
        image.writer().preallocate(prealloc);
      } catch (IOException | RuntimeException e) {
        try {
          image.close();
        } catch (IOException suppressed) {
          e.addSuppressed(suppressed);
        }
        throw e;
      }
    }
    return image;
  }

  /**
   * Writes the new file; {@code luks} is the LUKS header region of an encrypted image (placed, as
   * qemu places it, in the clusters after the L1 table), or null.
   */
  static void write(Path path, CreateOptions o, byte[] luks) throws IOException {
    if (o.dataFile() != null) {
      // The data file holds the guest's bytes at their guest offsets, as a sparse file.
      BackingFiles.checkPlainName(path.toString(), Structure.EXTERNAL_DATA_FILE, -1, o.dataFile());
      try (java.io.RandomAccessFile data =
          new java.io.RandomAccessFile(BackingFiles.resolve(path, o.dataFile()).toFile(), "rw")) {
        data.setLength(0);
        data.setLength(o.size());
      }
    }
    int clusterBits = Integer.numberOfTrailingZeros(o.clusterSize());
    int cs = o.clusterSize();
    ClusterGeometry g = new ClusterGeometry(clusterBits, o.extendedL2());
    long l1Entries = g.l1EntriesFor(o.size());
    int order = Integer.numberOfTrailingZeros(o.refcountBits());
    int perBlock = RefcountBlock.entries(cs, order);
    long l1Clusters = (l1Entries * 8 + cs - 1) / cs;
    long luksClusters = luks == null ? 0 : (luks.length + cs - 1) / cs;

    // The refcount table and blocks must cover the header, themselves and the L1 table.
    long blocks = 1;
    long tableClusters = 1;
    while (true) {
      long total = 1 + tableClusters + blocks + l1Clusters + luksClusters;
      long needBlocks = (total + perBlock - 1) / perBlock;
      long needTable = Math.max(1, (needBlocks * 8 + cs - 1) / cs);
      if (needBlocks == blocks && needTable == tableClusters) {
        break;
      }
      blocks = Math.max(blocks, needBlocks);
      tableClusters = Math.max(tableClusters, needTable);
    }
    long tableOffset = cs;
    long blocksOffset = tableOffset + tableClusters * cs;
    long l1Offset = blocksOffset + blocks * cs;
    long usedClusters = 1 + tableClusters + blocks + l1Clusters + luksClusters;
    long luksOffset = (1 + tableClusters + blocks + l1Clusters) * cs;

    ByteBuffer header =
        headerCluster(
            o,
            clusterBits,
            l1Entries,
            l1Offset,
            tableOffset,
            tableClusters,
            luks == null ? null : new ImageEncryption.Region(luksOffset, luks.length));
    ByteBuffer table = ByteBuffer.allocate((int) (tableClusters * cs));
    for (int i = 0; i < blocks; i++) {
      table.putLong(i * 8, blocksOffset + (long) i * cs);
    }
    byte[][] refBlocks = new byte[(int) blocks][cs];
    for (long c = 0; c < usedClusters; c++) {
      RefcountBlock.set(refBlocks[(int) (c / perBlock)], (int) (c % perBlock), order, 1);
    }
    try (var ch =
        java.nio.channels.FileChannel.open(
            path,
            StandardOpenOption.CREATE,
            StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING)) {
      writeFully(ch, header, 0);
      writeFully(ch, table, tableOffset);
      for (int i = 0; i < refBlocks.length; i++) {
        writeFully(ch, ByteBuffer.wrap(refBlocks[i]), blocksOffset + (long) i * cs);
      }
      if (luks != null) {
        writeFully(ch, ByteBuffer.wrap(luks), luksOffset);
      }
      // The L1 table is all zeros: extend the file to its end without writing data.
      long end = l1Offset + l1Entries * 8;
      if (end > ch.size()) {
        ch.write(ByteBuffer.allocate(1), end - 1);
      }
      ch.force(true);
    }
    assert Files.size(path) >= l1Offset;
  }

  private static void writeFully(java.nio.channels.FileChannel ch, ByteBuffer b, long at)
      throws IOException {
    long pos = at;
    while (b.hasRemaining()) {
      pos += ch.write(b, pos);
    }
  }

  static ByteBuffer headerCluster(
      CreateOptions o,
      int clusterBits,
      long l1Entries,
      long l1Offset,
      long tableOffset,
      long tableClusters) {
    if (o.encryption() != null) {
      throw new IllegalArgumentException("an encrypted image cannot be written as a stream");
    }
    return headerCluster(o, clusterBits, l1Entries, l1Offset, tableOffset, tableClusters, null);
  }

  private static ByteBuffer headerCluster(
      CreateOptions o,
      int clusterBits,
      long l1Entries,
      long l1Offset,
      long tableOffset,
      long tableClusters,
      ImageEncryption.Region luks) {
    int cs = 1 << clusterBits;
    ByteBuffer b = ByteBuffer.allocate(cs);
    boolean v3 = o.version() == 3;
    int headerLength = v3 ? 112 : Header.V2_HEADER_LENGTH;
    b.putInt(0, Header.MAGIC);
    Header.Field.VERSION.put(b, 0, o.version());
    b.putInt(20, clusterBits);
    Header.Field.SIZE.put(b, 0, o.size());
    Header.Field.L1_SIZE.put(b, 0, l1Entries);
    Header.Field.L1_TABLE_OFFSET.put(b, 0, l1Offset);
    Header.Field.REFCOUNT_TABLE_OFFSET.put(b, 0, tableOffset);
    Header.Field.REFCOUNT_TABLE_CLUSTERS.put(b, 0, tableClusters);
    if (v3) {
      long incompatible = 0;
      if (o.compressionType() != CompressionType.ZLIB) {
        incompatible |= FeatureBits.INCOMPAT_COMPRESSION;
      }
      if (o.extendedL2()) {
        incompatible |= FeatureBits.INCOMPAT_EXTENDED_L2;
      }
      if (o.dataFile() != null) {
        incompatible |= FeatureBits.INCOMPAT_DATA_FILE;
      }
      Header.Field.INCOMPATIBLE_FEATURES.put(b, 0, incompatible);
      Header.Field.AUTOCLEAR_FEATURES.put(
          b, 0, o.dataFileRaw() ? FeatureBits.AUTOCLEAR_DATA_FILE_RAW : 0);
      Header.Field.COMPATIBLE_FEATURES.put(
          b, 0, o.lazyRefcounts() ? FeatureBits.COMPAT_LAZY_REFCOUNTS : 0);
      Header.Field.REFCOUNT_ORDER.put(b, 0, Integer.numberOfTrailingZeros(o.refcountBits()));
      Header.Field.HEADER_LENGTH.put(b, 0, headerLength);
      b.put(Header.V3_MIN_HEADER_LENGTH, (byte) o.compressionType().code()); // compression_type
    }
    b.position(headerLength);
    if (o.backingFile() != null && o.backingFormat() != null) {
      putExtension(
          b, HeaderExtension.BACKING_FORMAT, o.backingFormat().getBytes(StandardCharsets.UTF_8));
    }
    if (o.dataFile() != null) {
      putExtension(
          b, HeaderExtension.EXTERNAL_DATA_FILE, o.dataFile().getBytes(StandardCharsets.UTF_8));
    }
    if (luks != null) {
      b.putInt(32, ImageEncryption.LUKS); // crypt_method
      putExtension(
          b,
          HeaderExtension.FULL_DISK_ENCRYPTION,
          ByteBuffer.allocate(16).putLong(luks.offset()).putLong(luks.length()).array());
    }
    // qemu leaves the feature name table out for clusters of 4 KiB and less, to keep room.
    if (v3 && cs > 4096) {
      putExtension(b, HeaderExtension.FEATURE_NAME_TABLE, featureNameTable());
    }
    b.putInt(HeaderExtension.END).putInt(0);
    if (o.backingFile() != null) {
      byte[] name = o.backingFile().getBytes(StandardCharsets.UTF_8);
      if (b.position() + name.length > cs) {
        throw new IllegalArgumentException("backing file name does not fit in the first cluster");
      }
      b.putLong(8, b.position());
      b.putInt(16, name.length);
      b.put(name);
    }
    b.clear();
    return b;
  }

  private static void putExtension(ByteBuffer b, int type, byte[] data) {
    b.putInt(type).putInt(data.length).put(data);
    b.position(b.position() + ((8 - data.length % 8) % 8));
  }

  /** The eight entries qemu writes, in its order: type, bit, 46 bytes of name. */
  static byte[] featureNameTable() {
    int[][] bits = {{0, 0}, {0, 1}, {0, 2}, {0, 3}, {0, 4}, {1, 0}, {2, 0}, {2, 1}};
    byte[] t = new byte[bits.length * 48];
    for (int i = 0; i < bits.length; i++) {
      t[i * 48] = (byte) bits[i][0];
      t[i * 48 + 1] = (byte) bits[i][1];
      byte[] name =
          FeatureBits.defaultName(bits[i][0], bits[i][1]).getBytes(StandardCharsets.US_ASCII);
      System.arraycopy(name, 0, t, i * 48 + 2, name.length);
    }
    return t;
  }
}
