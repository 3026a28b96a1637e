package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * qemu-img amend for qcow2: compat 0.10 and 1.1 both ways where the image allows, lazy refcounts on
 * and off, a new refcount width (the refcount structures rebuilt), and a new backing file name and
 * format. Data moves first (zero clusters expanded for version 2, refcounts rebuilt) and is made
 * durable; the header cluster then changes in one write.
 */
final class ImageAmender {
  private ImageAmender() {}

  static void amend(Path path, AmendOptions o) throws IOException {
    // Opened for writing: the file lock is ours, and a dirty image is repaired first. With a
    // passphrase, a wrong one fails the open, as qemu-img amend's does.
    OpenOptions.Builder ob = OpenOptions.builder().writable(true).openBacking(true);
    byte[] key = o.encryptionKey();
    if (key != null) {
      ob.encryptionKey(key);
      Arrays.fill(key, (byte) 0);
    }
    try (Qcow2Image image = Qcow2Image.open(path, ob.build())) {
      image.lock().writeLock().lock();
      try {
        image.writer().flush();
        if (o.keySlots() != null) {
          // First, unlike qemu (which upgrades the version before): a refused key slot change
          // then leaves the image as it was.
          ImageEncryption.amendKeySlots(
              image.filename(),
              image.storage(),
              image.header(),
              o.keySlots(),
              o.encryptionKey(),
              o.force());
        }
        if (o.keySlots() == null || o.changesHeader()) {
          amendOpen(image, o);
        }
      } finally {
        image.lock().writeLock().unlock();
      }
    }
  }

  /**
   * As {@link Qcow2Image#setBackingFile}: the header cluster rewritten with the new name and
   * format.
   */
  static void setBackingFile(Path path, String name, String format) throws IOException {
    if (name != null && name.isEmpty()) {
      name = null;
    }
    if (format != null && !format.equals("qcow2") && !format.equals("raw")) {
      throw new IllegalArgumentException("backing format must be qcow2 or raw: " + format);
    }
    try (Qcow2Image image =
        Qcow2Image.open(path, OpenOptions.builder().writable(true).openBacking(false).build())) {
      image.lock().writeLock().lock();
      try {
        image.writer().flush();
        Header h = image.header();
        ByteBuffer fields = ByteBuffer.allocate(h.headerLength());
        image.storage().readOrZero(fields, 0);
        List<HeaderExtension> extensions = new ArrayList<>();
        if (name != null && format != null) {
          extensions.add(
              new HeaderExtension(
                  HeaderExtension.BACKING_FORMAT, 0, format.getBytes(StandardCharsets.UTF_8)));
        }
        for (HeaderExtension e : h.extensions()) {
          if (e.type() != HeaderExtension.BACKING_FORMAT) {
            extensions.add(e);
          }
        }
        HeaderUpdate.rewriteCluster(
            image.storage(), path.toString(), image.clusterSize(), fields.flip(), extensions, name);
      } finally {
        image.lock().writeLock().unlock();
      }
    }
  }

  private static void amendOpen(Qcow2Image image, AmendOptions o) throws IOException {
    Header h = image.header();
    String name = image.filename();
    int version = o.version() != null ? o.version() : h.version();
    int refcountBits = o.refcountBits() != null ? o.refcountBits() : 1 << h.refcountOrder();
    // Downgrading drops lazy refcounts unless they are asked for, which version 2 cannot do.
    boolean lazy =
        o.lazyRefcounts() != null ? o.lazyRefcounts() : version >= 3 && h.hasLazyRefcounts();
    if (version < 3) {
      if (refcountBits != 16) {
        throw new IllegalArgumentException(name + ": compat=0.10 requires refcount_bits=16");
      }
      if (lazy) {
        throw new IllegalArgumentException(
            name
                + ": Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
      }
      if (image.hasExternalDataFile()) {
        throw new IllegalArgumentException(name + ": Cannot downgrade an image with a data file");
      }
    }
    Storage storage = image.storage();
    ClusterGeometry g = image.geometry();
    // 1. Version 2 has no zero flag: zero clusters become real zeros (or holes, without backing).
    if (version < 3 && h.version() >= 3) {
      long incompatible =
          h.incompatibleFeatures()
              & ~(FeatureBits.INCOMPAT_DIRTY | FeatureBits.INCOMPAT_COMPRESSION);
      if (incompatible != 0) {
        throw new IllegalArgumentException(
            name
                + ": Cannot downgrade an image with incompatible features 0x"
                + Long.toHexString(incompatible)
                + " set");
      }
      expandZeroClusters(image);
      if (h.compressionType() != CompressionType.ZLIB && hasCompressedClusters(image)) {
        throw new IllegalArgumentException(
            name
                + ": Cannot downgrade an image with zstd compression type and existing compressed clusters");
      }
    }
    // Everything the writer holds goes to disk now, refcounts and the dirty bit's clearing
    // included: nothing may reach the header after it is rewritten below.
    image.writer().close();
    // 2. A new refcount width (after the writer is done: it keeps the old structures in memory):
    // new structures at the end of the file, switched by the header.
    int order = Integer.numberOfTrailingZeros(refcountBits);
    long[] newTable = null;
    if (order != h.refcountOrder()) {
      if (h.version() < 3 && version < 3) {
        throw new IllegalArgumentException(
            name
                + ": Different refcount widths than 16 bits require compatibility level 1.1 or above (use version=v3 or greater)");
      }
      ReferenceWalk refs =
          ReferenceWalk.count(
              name, storage, h, g, image.l1(), image.snapshots(), null, false, new long[0]);
      newTable = Refcounts.rebuild(name, storage, h, g, refs, order);
    }
    // 3. The header cluster, in one write.
    String backing = o.changesBacking() ? o.backingFile() : h.backingFileName();
    String backingFormat = o.changesBacking() ? o.backingFormat() : formatOf(h);
    Header now = image.header();
    ByteBuffer fixed = ByteBuffer.allocate(Math.max(now.headerLength(), 112));
    storage.readOrZero(fixed.limit(now.headerLength()), 0);
    fixed.clear();
    if (newTable != null) {
      // rebuild() built a new table (and, on a version 3 file, already switched to it): this header
      // write switches a version 2 file being upgraded to it, with the new order, in one write.
      Header.Field.REFCOUNT_TABLE_OFFSET.put(fixed, 0, newTable[0]);
      Header.Field.REFCOUNT_TABLE_CLUSTERS.put(fixed, 0, newTable[1]);
    }
    Header.Field.VERSION.put(fixed, 0, version);
    int headerLength;
    if (version >= 3) {
      headerLength = h.version() >= 3 ? now.headerLength() : 112;
      long incompatible =
          h.version() >= 3 ? now.incompatibleFeatures() & ~FeatureBits.INCOMPAT_DIRTY : 0;
      long compatible =
          (h.version() >= 3 ? now.compatibleFeatures() : 0) & ~FeatureBits.COMPAT_LAZY_REFCOUNTS;
      Header.Field.INCOMPATIBLE_FEATURES.put(fixed, 0, incompatible);
      Header.Field.COMPATIBLE_FEATURES.put(
          fixed, 0, compatible | (lazy ? FeatureBits.COMPAT_LAZY_REFCOUNTS : 0));
      if (h.version() < 3) {
        Header.Field.AUTOCLEAR_FEATURES.put(fixed, 0, 0);
        fixed.put(Header.V3_MIN_HEADER_LENGTH, (byte) 0); // compression_type zlib
      }
      Header.Field.REFCOUNT_ORDER.put(fixed, 0, order);
      Header.Field.HEADER_LENGTH.put(fixed, 0, headerLength);
    } else {
      headerLength = Header.V2_HEADER_LENGTH;
    }
    List<HeaderExtension> extensions = new ArrayList<>();
    if (backing != null && backingFormat != null) {
      extensions.add(
          new HeaderExtension(
              HeaderExtension.BACKING_FORMAT, 0, backingFormat.getBytes(StandardCharsets.UTF_8)));
    }
    boolean hadFeatureTable = false;
    for (HeaderExtension e : now.extensions()) {
      if (e.type() == HeaderExtension.BACKING_FORMAT) {
        continue;
      }
      if (e.type() == HeaderExtension.FEATURE_NAME_TABLE) {
        hadFeatureTable = true;
        if (version < 3) {
          continue;
        }
      }
      if (e.type() == HeaderExtension.BITMAPS && version < 3) {
        continue; // bitmaps need version 3; their autoclear bit is gone with it
      }
      extensions.add(e);
    }
    if (version >= 3 && h.version() < 3 && !hadFeatureTable && g.clusterSize > 4096) {
      extensions.add(
          new HeaderExtension(
              HeaderExtension.FEATURE_NAME_TABLE, 0, ImageCreator.featureNameTable()));
    }
    if (version < 3) {
      // Version 2 headers carry no feature or autoclear fields; nothing of them survives.
      fixed.limit(Header.V2_HEADER_LENGTH);
    } else {
      fixed.limit(headerLength);
    }
    fixed.position(0);
    HeaderUpdate.rewriteCluster(storage, name, g.clusterSize, fixed, extensions, backing);
  }

  private static String formatOf(Header h) {
    HeaderExtension e = h.extension(HeaderExtension.BACKING_FORMAT);
    return e == null ? null : e.text();
  }

  /**
   * Every zero cluster of the active layer becomes plain zeros: written into its cluster when it
   * has one or when a backing file would otherwise show through, made unallocated otherwise.
   * Snapshots holding zero clusters are refused (their tables are not rewritten).
   */
  private static void expandZeroClusters(Qcow2Image image) throws IOException {
    ClusterGeometry g = image.geometry();
    for (Snapshot s : image.snapshots()) {
      if (hasZeroEntries(image, readL1(image, s))) {
        throw new IllegalArgumentException(
            image.filename()
                + ": snapshot '"
                + s.name()
                + "' holds zero clusters; downgrading it to compat=0.10 is not supported");
      }
    }
    ByteBuffer zeros = ByteBuffer.allocate(g.clusterSize);
    long size = image.size();
    for (long at = 0; at < size; ) {
      ClusterMap.Run run = image.clusterMap().lookup(at, size - at);
      long n = run.length();
      if (run.kind() == ClusterMap.ZERO_ALLOC || run.kind() == ClusterMap.ZERO_PLAIN) {
        for (long c = at; c < at + n; c += g.clusterSize) {
          int len = (int) Math.min(g.clusterSize, size - c);
          if (run.kind() == ClusterMap.ZERO_PLAIN && image.backing() == null) {
            image.writer().discard(c, len);
          } else {
            image.writer().write(zeros.clear().limit(len), c);
          }
        }
      }
      at += n;
    }
    image.writer().flush();
  }

  private static boolean hasCompressedClusters(Qcow2Image image) throws IOException {
    if (scan(image, image.l1(), true)) {
      return true;
    }
    for (Snapshot s : image.snapshots()) {
      if (scan(image, readL1(image, s), true)) {
        return true;
      }
    }
    return false;
  }

  private static boolean hasZeroEntries(Qcow2Image image, long[] l1) throws IOException {
    return scan(image, l1, false);
  }

  /**
   * Whether some L2 entry reached from {@code l1} is compressed, or (if not {@code compressed}) has
   * the zero flag.
   */
  private static boolean scan(Qcow2Image image, long[] l1, boolean compressed) throws IOException {
    ClusterGeometry g = image.geometry();
    int k = g.extendedL2 ? 2 : 1;
    for (int i = 0; i < l1.length; i++) {
      long l2 = L1Entry.l2Offset(l1[i]);
      if (l2 == 0) {
        continue;
      }
      long[] table = image.l2Cache().get(l2);
      for (int j = 0; j < g.l2Entries; j++) {
        long e = table[k * j];
        if (compressed
            ? L2Entry.isCompressed(e)
            : !L2Entry.isCompressed(e) && L2Entry.hasZeroFlag(e)) {
          return true;
        }
      }
    }
    return false;
  }

  private static long[] readL1(Qcow2Image image, Snapshot s) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(s.l1Size() * 8);
    image.storage().readOrZero(b, s.l1TableOffset());
    long[] l1 = new long[s.l1Size()];
    b.clear().asLongBuffer().get(l1);
    return l1;
  }
}
