package dev.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * A raw file as a {@link DiskImage}: guest offset equals file offset. Used for raw backing files
 * and as a convert source. Thread-safe.
 *
 * <p>Block status reports the whole file as data: the JDK cannot ask the file system where its
 * holes are, so unlike qemu-img a hole in a sparse raw file is reported as data that reads zeros.
 */
public final class RawImage implements DiskImage {
  private final String filename;
  private final Storage storage;
  private final long size;
  private final Path path;

  private RawImage(String filename, Path path, Storage storage) throws IOException {
    this.filename = filename;
    this.path = path;
    this.storage = storage;
    // qemu counts sizes in 512-byte sectors: a raw file's last partial sector reads as zeros.
    this.size = (storage.size() + 511) & ~511L;
  }

  /**
   * Opens a file as a raw disk: its bytes are the guest's, its size rounded up to whole 512-byte
   * sectors as qemu does (the last partial sector reads as zeros).
   *
   * @param path the file
   * @param writable whether to open it for writing as well
   * @return the open image; close it when done
   * @throws IOException if the file cannot be opened
   */
  public static RawImage open(Path path, boolean writable) throws IOException {
    return new RawImage(path.toString(), path, Storage.open(path, writable));
  }

  /**
   * A raw image over any storage (a remote object, bytes in memory).
   *
   * @param storage the bytes of the disk; the image owns and closes it
   * @return the image, named after the storage
   * @throws IOException if the storage's size cannot be learned
   */
  public static RawImage of(Storage storage) throws IOException {
    return new RawImage(storage.name(), null, storage);
  }

  @Override
  public String filename() {
    return filename;
  }

  @Override
  public String format() {
    return "raw";
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public int read(ByteBuffer dst, long offset) throws IOException {
    if (offset < 0) {
      throw new IllegalArgumentException(filename + ": negative offset " + offset);
    }
    if (offset >= size) {
      return -1;
    }
    int want = (int) Math.min(dst.remaining(), size - offset);
    ByteBuffer slice = dst.slice().limit(want);
    storage.readOrZero(slice, offset);
    dst.position(dst.position() + want);
    return want;
  }

  @Override
  public BlockStatus blockStatus(long offset, long maxLength) {
    long length = Math.min(maxLength, size - offset);
    return new BlockStatus(offset, length, 0, true, false, true, false, offset, filename);
  }

  @Override
  public ImageInfo info() throws IOException {
    long actual = path != null ? HostFiles.allocatedBytes(path) : storage.size();
    return new ImageInfo(
        filename,
        "raw",
        size,
        actual,
        0,
        null,
        null,
        null,
        false,
        false,
        null,
        null,
        false,
        0,
        false,
        null,
        false,
        java.util.List.of(),
        java.util.List.of(),
        null,
        null);
  }

  @Override
  public DiskImage backing() {
    return null;
  }

  @Override
  public void close() throws IOException {
    storage.close();
  }

  @Override
  public String toString() {
    return "RawImage[" + filename + ", " + size + " bytes]";
  }
}
