package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The persistent dirty bitmaps of an image, as qemu keeps them (block/qcow2-bitmap.c).
 *
 * <p>On an image open for writing, the first change flags every bitmap "in use" in the file (the
 * directory rewritten in place while the bitmaps autoclear bit is off, as qemu does at open); from
 * then on every write, zero write and discard sets the bits of every enabled ("auto") bitmap in
 * memory, and a clean {@link Qcow2Image#close()} stores them back and clears the flag, in the order
 * {@link BitmapStore} describes. A crash in between leaves the bitmaps flagged in use, which qemu,
 * backup tools and this library then refuse to trust. A bitmap found in use at open is listed with
 * that flag, never updated, and can only be removed.
 *
 * <p>Thread-safe: every method holds this object's monitor. Changes made through the methods here
 * reach the file when the image is closed, as with {@code qemu-img bitmap}.
 */
public final class DirtyBitmaps {
  /** One bitmap's state: the entry as the file has it (or will) and the bits changed since. */
  static final class Live {
    BitmapEntry entry;

    /** The table as on disk, read when first needed; null for a bitmap added since open. */
    long[] table;

    /** Chunks read and changed, by table index; written to new clusters at close. */
    final TreeMap<Integer, long[]> chunks = new TreeMap<>();

    /** The old data clusters are not used any more (a clear, or a new bitmap). */
    boolean cleared;

    /** Bits changed: the bitmap gets a new table at close. */
    boolean changed;

    /** Flagged in use since before this open: never trusted, never updated. */
    final boolean inconsistent;

    Live(BitmapEntry entry) {
      this.entry = entry;
      this.inconsistent = entry.inUse();
    }
  }

  private final Qcow2Image image;
  private final Map<String, Live> live = new LinkedHashMap<>();

  /** Bitmaps removed since open, whose clusters go at close. */
  private final List<BitmapEntry> removed = new ArrayList<>();

  /** The directory as on disk at open; null without one. */
  private final long directoryOffset;

  private final long directorySize;
  private final int directoryCount;

  private boolean markedInUse;
  private boolean touched;
  private boolean closed;

  DirtyBitmaps(Qcow2Image image, List<BitmapEntry> entries) {
    this.image = image;
    for (BitmapEntry e : entries) {
      live.put(e.name(), new Live(e));
    }
    ByteBuffer ext = extension(image.header());
    this.directorySize = ext == null ? 0 : ext.getLong(8);
    this.directoryOffset = ext == null ? 0 : ext.getLong(16);
    this.directoryCount = ext == null ? 0 : ext.getInt(0);
  }

  /** The bitmaps of an image being opened, its directory checked. */
  static DirtyBitmaps read(Qcow2Image image, long fileSize) throws IOException {
    return new DirtyBitmaps(
        image,
        BitmapDirectory.entries(
            image.filename(), image.storage(), image.header(), image.geometry(), fileSize));
  }

  private static ByteBuffer extension(Header h) {
    HeaderExtension e = h.extension(HeaderExtension.BITMAPS);
    boolean valid = (h.autoclearFeatures() & FeatureBits.AUTOCLEAR_BITMAPS) != 0;
    return e == null || !valid ? null : ByteBuffer.wrap(e.data());
  }

  /**
   * The bitmaps, with their flags as the file has them now.
   *
   * @return the bitmaps in directory order, unmodifiable
   */
  public synchronized List<Bitmap> list() {
    return live.values().stream().map(l -> l.entry.toBitmap()).toList();
  }

  /**
   * The guest ranges that bitmap {@code name} marks, in order, adjacent runs joined: what {@code
   * qemu-nbd}'s {@code qemu:dirty-bitmap:NAME} context reports as dirty. Includes the writes made
   * through this image since it was opened. The list can be long for a large, fragmented bitmap:
   * {@link #dirtyExtents(String, long, long)} reads it a range at a time.
   *
   * @param name the bitmap's name
   * @return the dirty runs in guest order, unmodifiable
   * @throws IOException if the image file cannot be read or written
   * @throws IllegalArgumentException if there is no such bitmap
   * @throws IllegalStateException if the bitmap is in use (inconsistent) since before this open
   */
  public List<BitmapExtent> dirtyExtents(String name) throws IOException {
    return dirtyExtents(name, 0, image.size());
  }

  /**
   * As {@link #dirtyExtents(String)}, for guest bytes [offset, offset + length) only: the runs are
   * cut to that range.
   *
   * @param name the bitmap's name
   * @param offset the first guest byte
   * @param length how many guest bytes
   * @return the dirty runs in guest order, unmodifiable
   * @throws IOException if the image file cannot be read or written
   * @throws IllegalArgumentException also if the range is not inside the disk
   */
  public synchronized List<BitmapExtent> dirtyExtents(String name, long offset, long length)
      throws IOException {
    ImageReader.checkRange(image.filename(), image.size(), offset, length);
    Live l = usable(name);
    if (length == 0) {
      return List.of();
    }
    BitmapScan scan = new BitmapScan(k -> peek(l, k), image.geometry().clusterSize);
    return List.copyOf(scan.extents(offset, offset + length, l.entry.granularityBits()));
  }

  // ---------------------------------------------------------------------------------------------
  // Changes, as qemu-img bitmap makes them

  /**
   * Adds an empty bitmap.
   *
   * @param name its name, 1 to 1023 bytes of UTF-8
   * @param granularity bytes one bit covers: a power of two from 512 to 2 GiB
   * @param enabled whether it tracks writes (qemu's "auto" flag)
   * @throws IOException if the image file cannot be read or written
   * @throws IllegalArgumentException with qemu's message if the name or granularity is refused
   */
  public synchronized void add(String name, long granularity, boolean enabled) throws IOException {
    checkWritable();
    if (name.isEmpty()) {
      throw new IllegalArgumentException("Bitmap name cannot be empty");
    }
    if (live.containsKey(name)) {
      throw new IllegalArgumentException("Bitmap already exists: " + name);
    }
    if (granularity < 512 || granularity > 1L << 31 || Long.bitCount(granularity) != 1) {
      throw new IllegalArgumentException("Granularity must be power of 2 and at least 512");
    }
    String cannot = "Can't make bitmap '" + name + "' persistent in '" + image.filename() + "': ";
    if (image.header().version() < 3) {
      throw new IllegalArgumentException(cannot + "Cannot store dirty bitmaps in qcow2 v2 files");
    }
    if (name.getBytes(StandardCharsets.UTF_8).length > BitmapEntry.MAX_NAME_BYTES) {
      throw new IllegalArgumentException(cannot + "Name length exceeds maximum (1023 characters)");
    }
    if (live.size() >= BitmapDirectory.MAX_BITMAPS) {
      throw new IllegalArgumentException(
          cannot + "Maximum number of persistent bitmaps is already reached");
    }
    int bits = Long.numberOfTrailingZeros(granularity);
    Live l = new Live(new BitmapEntry(0, 0, enabled ? BitmapEntry.FLAG_AUTO : 0, bits, name));
    l.cleared = true;
    l.changed = true;
    live.put(name, l);
    touched = true;
  }

  /**
   * Removes a bitmap, in use or not.
   *
   * @param name the bitmap's name
   * @throws IOException if the image file cannot be read or written
   */
  public synchronized void remove(String name) throws IOException {
    checkWritable();
    Live l = find(name);
    live.remove(name);
    if (l.entry.tableSize() > 0) {
      removed.add(l.entry);
    }
    touched = true;
  }

  /**
   * Unmarks every bit of a bitmap.
   *
   * @param name the bitmap's name
   * @throws IOException if the image file cannot be read or written
   */
  public synchronized void clear(String name) throws IOException {
    checkWritable();
    Live l = usable(name);
    l.chunks.clear();
    l.cleared = true;
    l.changed = true;
    touched = true;
  }

  /**
   * Makes a bitmap track writes (enabled, qemu's "auto" flag) or stop tracking them.
   *
   * @param name the bitmap's name
   * @param enabled true to track writes
   * @throws IOException if the image file cannot be read or written
   */
  public synchronized void setEnabled(String name, boolean enabled) throws IOException {
    checkWritable();
    Live l = usable(name);
    int flags =
        enabled
            ? l.entry.flags() | BitmapEntry.FLAG_AUTO
            : l.entry.flags() & ~BitmapEntry.FLAG_AUTO;
    l.entry = l.entry.withFlags(flags);
    touched = true;
  }

  /**
   * Marks in bitmap {@code target} everything that bitmap {@code sourceName} of {@code source}
   * (this image or another) marks, at the target's granularity.
   *
   * @param target the name of the bitmap that gains the marks
   * @param source the image that holds the source bitmap
   * @param sourceName the source bitmap's name
   * @throws IOException if the image file cannot be read or written
   */
  public synchronized void merge(String target, Qcow2Image source, String sourceName)
      throws IOException {
    checkWritable();
    Live l = usable(target);
    long size = image.size();
    for (BitmapExtent e : source.dirtyBitmaps().dirtyExtents(sourceName)) {
      if (e.offset() < size) {
        mark(l, e.offset(), Math.min(e.length(), size - e.offset()));
      }
    }
    touched = true;
  }

  // ---------------------------------------------------------------------------------------------
  // For the writer

  /**
   * Before guest range [offset, offset + length) changes: flags the bitmaps in use on disk the
   * first time, then marks the range in every enabled bitmap. The one hook of the write path.
   */
  synchronized void changed(long offset, long length) throws IOException {
    if (live.isEmpty() || length <= 0) {
      return;
    }
    markInUse();
    for (Live l : live.values()) {
      if (l.entry.auto() && !l.inconsistent) {
        mark(l, offset, length);
      }
    }
  }

  /**
   * qemu refuses to apply an internal snapshot to an image with persistent bitmaps, enabled or not:
   * the bitmaps would describe changes relative to a state the disk no longer has.
   */
  synchronized void checkSnapshotApply() {
    if (!live.isEmpty()) {
      throw new IllegalStateException("Device has active dirty bitmaps");
    }
  }

  /** Before the disk changes size: the bitmaps change size with it, so they are in use. */
  synchronized void beforeResize() throws IOException {
    if (!live.isEmpty()) {
      markInUse();
    }
  }

  private void markInUse() throws IOException {
    if (markedInUse || directorySize == 0) {
      return;
    }
    BitmapStore.markInUse(image, directoryOffset, directorySize, directoryCount);
    for (Live l : live.values()) {
      l.entry = l.entry.withFlags(l.entry.flags() | BitmapEntry.FLAG_IN_USE);
    }
    markedInUse = true;
    touched = true;
  }

  /** At close: stores what changed, in crash-safe order. */
  synchronized void store(ImageWriter w) throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    if (touched) {
      for (Live l : live.values()) {
        int gb = l.entry.granularityBits();
        int size = BitmapEntry.tableSizeFor(image.size(), gb, image.geometry().clusterBits);
        l.changed |= !l.inconsistent && l.entry.tableSize() != size; // resized
      }
      new BitmapStore(image, w).store(live.values(), removed, directoryOffset, directorySize);
    }
  }

  List<BitmapEntry> entries() {
    return live.values().stream().map(l -> l.entry).toList();
  }

  private void mark(Live l, long offset, long length) throws IOException {
    int gb = l.entry.granularityBits();
    long first = offset >>> gb;
    long end = ((offset + length - 1) >>> gb) + 1;
    long perChunk = image.geometry().clusterSize * 8L;
    for (long bit = first; bit < end; ) {
      int k = (int) (bit / perChunk);
      long chunkEnd = Math.min(end, (k + 1) * perChunk);
      long[] words = chunkForWrite(l, k);
      BitmapTable.set(words, bit - k * perChunk, chunkEnd - k * perChunk);
      bit = chunkEnd;
    }
    l.changed = true;
  }

  private long[] chunkForWrite(Live l, int k) throws IOException {
    long[] words = l.chunks.get(k);
    if (words == null) {
      words = peek(l, k).clone();
      l.chunks.put(k, words);
    }
    return words;
  }

  /** Chunk {@code k} as it now is, from memory or the file; not to be changed. */
  private long[] peek(Live l, int k) throws IOException {
    long[] words = l.chunks.get(k);
    if (words != null) {
      return words;
    }
    ClusterGeometry g = image.geometry();
    if (l.cleared || k >= l.entry.tableSize()) {
      return new long[g.clusterSize / 8];
    }
    if (l.table == null) {
      l.table = BitmapTable.read(image.storage(), l.entry);
    }
    long fileSize = Math.max(image.fileSize(), image.storage().size());
    return BitmapTable.chunk(
        image.filename(), image.storage(), g, fileSize, l.entry, k, l.table[k]);
  }

  private Live find(String name) {
    Live l = live.get(name);
    if (l == null) {
      throw new IllegalArgumentException("Dirty bitmap '" + name + "' not found");
    }
    return l;
  }

  private Live usable(String name) {
    Live l = find(name);
    if (l.inconsistent) {
      throw new IllegalStateException("Bitmap '" + name + "' is inconsistent and cannot be used");
    }
    return l;
  }

  private void checkWritable() {
    if (closed || !image.isWritable()) {
      throw new IllegalStateException(image.filename() + ": image is read-only or closed");
    }
  }
}
