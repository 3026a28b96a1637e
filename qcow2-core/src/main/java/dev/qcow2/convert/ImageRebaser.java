package dev.qcow2.convert;

import dev.qcow2.BackingName;
import dev.qcow2.BlockStatus;
import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.RawImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.function.LongConsumer;

/**
 * Gives a qcow2 image another backing file, as {@code qemu-img rebase} does. In {@link
 * RebaseMode#SAFE} mode the disk reads the same afterwards: every range the image does not hold
 * itself is compared between the old chain and the new backing file, and where they differ the old
 * content is written into the image first ({@link RebaseMode#SAFE_COMPRESSED}: compressed, a whole
 * cluster at a time). Only then, with that data durable, is the header switched to the new name in
 * one write.
 */
public final class ImageRebaser {
  private static final int CHUNK = 1 << 20;

  private ImageRebaser() {}

  /**
   * Rebases {@code image} onto {@code newBacking}: a name stored as given (a relative name is
   * relative to the image's folder), or null or "" for no backing file at all (flattening: the
   * image then holds its whole disk).
   *
   * @param image the qcow2 image to rebase
   * @param newBacking the new backing file name, or null or "" for none
   * @param newFormat "qcow2" or "raw", or null to detect it from the file
   * @param mode safe (content kept) or unsafe (the name changed only)
   * @param progress called with guest bytes compared so far; may be null
   * @throws IOException if an image cannot be read or written, or a safe rebase's new backing file
   *     does not exist
   */
  public static void rebase(
      Path image, String newBacking, String newFormat, RebaseMode mode, LongConsumer progress)
      throws IOException {
    String name = newBacking == null || newBacking.isEmpty() ? null : newBacking;
    // Absolute, so that the message of a missing file names where it was looked for.
    Path newPath = name == null ? null : BackingName.resolve(image.toAbsolutePath(), name);
    String probed = name == null ? null : BackingName.probeFormat(image.toAbsolutePath(), name);
    String format = newFormat != null ? newFormat : probed;
    if (mode != RebaseMode.UNSAFE) {
      // Unsafely a missing file is only a name, as with qemu-img rebase -u.
      if (name != null && probed == null) {
        throw new NoSuchFileException(
            newPath.toString(), null, "Could not open new backing file '" + newPath + "'");
      }
      copyDifferences(image, newPath, format, mode == RebaseMode.SAFE_COMPRESSED, progress);
    }
    Qcow2Image.setBackingFile(image, name, format);
  }

  private static void copyDifferences(
      Path path, Path newPath, String format, boolean compress, LongConsumer progress)
      throws IOException {
    try (Qcow2Image image = Qcow2Image.open(path, OpenOptions.builder().writable(true).build());
        DiskImage newBacking =
            newPath == null
                ? null
                : "raw".equals(format) ? RawImage.open(newPath, false) : DiskImage.open(newPath)) {
      Copier copier = new Copier(image, newBacking, compress);
      long size = image.size();
      long at = 0;
      while (at < size) {
        BlockStatus status = image.blockStatus(at, Math.min(CHUNK, size - at));
        long n = status.length();
        // Where the image holds the bytes itself they read the same on any backing file.
        if (status.depth() != 0 || !status.present()) {
          copier.copyRange(at, (int) n);
        }
        at += n;
        if (progress != null) {
          progress.accept(at);
        }
      }
      image.flush();
    }
  }

  /** Copies what differs between the old view and the new backing file, with its buffers. */
  private static final class Copier {
    private final Qcow2Image image;
    private final DiskImage newBacking;
    private final boolean compress;
    private final int cs;
    private final ByteBuffer old = ByteBuffer.allocateDirect(CHUNK);
    private final ByteBuffer fresh = ByteBuffer.allocateDirect(CHUNK);
    private final ByteBuffer cluster;

    Copier(Qcow2Image image, DiskImage newBacking, boolean compress) {
      this.image = image;
      this.newBacking = newBacking;
      this.compress = compress;
      this.cs = image.clusterSize();
      this.cluster = compress ? ByteBuffer.allocate(cs) : null;
    }

    /**
     * Compares [at, at + n) of the old view (the image itself, which reads its old chain there)
     * with the new backing file, cluster by cluster, and writes the old content where they differ.
     */
    void copyRange(long at, int n) throws IOException {
      old.clear().limit(n);
      image.readFully(old, at);
      fresh.clear().limit(n);
      long newEnd = newBacking == null ? at : Math.min(at + n, Math.max(at, newBacking.size()));
      if (newEnd > at) {
        newBacking.readFully(fresh.slice(0, (int) (newEnd - at)), at);
      }
      for (int i = (int) (newEnd - at); i < n; i++) {
        fresh.put(i, (byte) 0);
      }
      // Compare in units of the image's clusters, aligned to guest offsets.
      int from = 0;
      while (from < n) {
        int to = (int) Math.min(n, from + cs - ((at + from) % cs));
        ByteBuffer o = old.slice(from, to - from);
        if (o.mismatch(fresh.slice(from, to - from)) >= 0) {
          if (compress) {
            writeWholeCluster(at + from, o);
          } else if (ImageConverter.isZero(old, from, to)) {
            image.writeZeroes(at + from, to - from);
          } else {
            image.write(o, at + from);
          }
        }
        from = to;
      }
    }

    /**
     * Rewrites the whole cluster around {@code guest} compressed, as qemu-img rebase -c aligns its
     * writes to clusters: the old view of the cluster, including any part the image held itself
     * (subclusters), so the disk reads the same. {@code piece}, the old view from {@code guest},
     * serves when it is the whole cluster, as it is unless the image has subclusters.
     */
    private void writeWholeCluster(long guest, ByteBuffer piece) throws IOException {
      long start = guest - guest % cs;
      int length = (int) Math.min(cs, image.size() - start);
      ByteBuffer whole = piece;
      if (start != guest || piece.remaining() != length) {
        whole = cluster.clear().limit(length);
        image.readFully(whole, start);
        whole.flip();
      }
      // Zeros too, as qemu's img_rebase writes them (a zero cluster compresses to a few bytes).
      image.writeCompressed(whole.duplicate(), start);
    }
  }
}
