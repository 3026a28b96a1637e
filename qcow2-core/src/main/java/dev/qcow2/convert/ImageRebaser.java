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
 * content is written into the image first. Only then, with that data durable, is the header
 * switched to the new name in one write.
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
    if (mode == RebaseMode.SAFE) {
      // Unsafely a missing file is only a name, as with qemu-img rebase -u.
      if (name != null && probed == null) {
        throw new NoSuchFileException(
            newPath.toString(), null, "Could not open new backing file '" + newPath + "'");
      }
      copyDifferences(image, newPath, format, progress);
    }
    Qcow2Image.setBackingFile(image, name, format);
  }

  private static void copyDifferences(Path path, Path newPath, String format, LongConsumer progress)
      throws IOException {
    try (Qcow2Image image = Qcow2Image.open(path, OpenOptions.builder().writable(true).build());
        DiskImage newBacking =
            newPath == null
                ? null
                : "raw".equals(format) ? RawImage.open(newPath, false) : DiskImage.open(newPath)) {
      long size = image.size();
      int cs = image.clusterSize();
      ByteBuffer old = ByteBuffer.allocateDirect(CHUNK);
      ByteBuffer fresh = ByteBuffer.allocateDirect(CHUNK);
      long at = 0;
      while (at < size) {
        BlockStatus status = image.blockStatus(at, Math.min(CHUNK, size - at));
        long n = status.length();
        if (status.depth() == 0 && status.present()) {
          at += n; // the image holds these bytes itself: they read the same on any backing file
        } else {
          copyRange(image, newBacking, at, (int) n, cs, old, fresh);
          at += n;
        }
        if (progress != null) {
          progress.accept(at);
        }
      }
      image.flush();
    }
  }

  /**
   * Compares [at, at + n) of the old view (the image itself, which reads its old chain there) with
   * the new backing file, cluster by cluster, and writes the old content where they differ.
   */
  private static void copyRange(
      Qcow2Image image,
      DiskImage newBacking,
      long at,
      int n,
      int cs,
      ByteBuffer old,
      ByteBuffer fresh)
      throws IOException {
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
        if (ImageConverter.isZero(old, from, to)) {
          image.writeZeroes(at + from, to - from);
        } else {
          image.write(o, at + from);
        }
      }
      from = to;
    }
  }
}
