package dev.qcow2.hash;

import dev.qcow2.BlockStatus;
import dev.qcow2.DiskImage;
import dev.qcow2.internal.parallel.Workers;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayDeque;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.LongConsumer;

/**
 * Digests of an image's virtual disk content.
 *
 * <p>{@link HashAlgorithm#SHA1} and {@link HashAlgorithm#SHA256} digest the disk byte for byte, as
 * {@code sha256sum} of {@code qemu-img convert -O raw} would: worker threads read and decompress 1
 * MiB chunks ahead of the calling thread, which alone feeds the digest in order; runs the image
 * reports as zeros are fed from a zero buffer without being read.
 *
 * <p>{@link HashAlgorithm#TREE_SHA256} is {@code SHA-256(D0 || D1 || ... || Dn-1 || be64(size))},
 * where {@code Di} is the SHA-256 of the disk's bytes {@code [i MiB, min(size, (i + 1) MiB))}.
 * Chunks are digested in parallel, and a chunk the image reports as zeros takes a precomputed
 * digest without being read, so the cost follows the allocated data, not the virtual size.
 */
public final class ContentHasher {
  /** The chunk of the tree hash, and the read unit of the streaming digests. */
  public static final int CHUNK = 1 << 20;

  private static final byte[] ZEROS = new byte[CHUNK];

  private ContentHasher() {}

  /**
   * Digests the virtual disk of {@code image} (through its backing chain).
   *
   * @param image the image to read; it stays open, and is read from several threads at once
   * @param algorithm the digest to compute; not null
   * @param threads reader threads (at least 1); the digest itself runs on the calling thread
   * @param progress called on the calling thread with the guest bytes done so far; may be null
   * @return the digest of the disk's {@code image.size()} bytes
   * @throws IOException if the image cannot be read (a {@code Qcow2Exception} when it is bad)
   * @throws IllegalArgumentException if {@code threads} is less than 1
   */
  public static ContentHash hash(
      DiskImage image, HashAlgorithm algorithm, int threads, LongConsumer progress)
      throws IOException {
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be at least 1: " + threads);
    }
    ExecutorService pool = Executors.newFixedThreadPool(threads, Workers.named("qcow2-hash"));
    try {
      return algorithm == HashAlgorithm.TREE_SHA256
          ? tree(image, threads, pool, progress)
          : stream(image, algorithm, threads, pool, progress);
    } finally {
      // Not shutdownNow: an interrupt in the middle of a read closes the image's channel, which
      // belongs to the caller. After a failure the few chunks still queued (at most the window)
      // are read and dropped.
      Workers.stop(pool);
    }
  }

  /**
   * Digests the bytes of a file as they lie on disk (Cangallo's {@code file-sha256}), not the disk
   * an image file holds.
   *
   * @param file the file to read, whole
   * @param algorithm {@link HashAlgorithm#SHA1} or {@link HashAlgorithm#SHA256}
   * @return the digest of the file's bytes
   * @throws IOException if the file cannot be read
   * @throws IllegalArgumentException for {@link HashAlgorithm#TREE_SHA256}, which digests disks
   */
  public static ContentHash hashFile(Path file, HashAlgorithm algorithm) throws IOException {
    if (algorithm == HashAlgorithm.TREE_SHA256) {
      throw new IllegalArgumentException("files are digested with sha1 or sha256 only");
    }
    MessageDigest md = digest(algorithm);
    byte[] buffer = new byte[CHUNK];
    ByteBuffer wrapped = ByteBuffer.wrap(buffer);
    try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
      int n;
      while ((n = in.read(wrapped.clear())) >= 0) {
        md.update(buffer, 0, n);
      }
    }
    return new ContentHash(algorithm, md.digest());
  }

  /** One run of the disk in guest order: zeros, or the future bytes (or digest) of a chunk. */
  private record Segment(long start, long length, Future<byte[]> result) {}

  private static ContentHash stream(
      DiskImage image,
      HashAlgorithm algorithm,
      int threads,
      ExecutorService pool,
      LongConsumer progress)
      throws IOException {
    MessageDigest md = digest(algorithm);
    long size = image.size();
    int window = 2 * threads + 2;
    ArrayDeque<Segment> pending = new ArrayDeque<>();
    ArrayDeque<byte[]> free = new ArrayDeque<>();
    int reading = 0;
    long planned = 0;
    while (planned < size || !pending.isEmpty()) {
      // Plan ahead until the window of chunks being read is full.
      while (planned < size && reading < window && pending.size() < 4 * window) {
        BlockStatus status = image.blockStatus(planned, size - planned);
        if (status.zero() && !status.data()) {
          pending.add(new Segment(planned, status.length(), null));
          planned += status.length();
          continue;
        }
        int length = (int) Math.min(CHUNK, size - planned);
        byte[] buffer = free.isEmpty() ? new byte[CHUNK] : free.poll();
        long start = planned;
        pending.add(
            new Segment(
                start,
                length,
                pool.submit(
                    () -> {
                      image.readFully(ByteBuffer.wrap(buffer, 0, length), start);
                      return buffer;
                    })));
        reading++;
        planned += length;
      }
      Segment s = pending.poll();
      if (s.result() == null) {
        for (long fed = 0; fed < s.length(); ) {
          int n = (int) Math.min(ZEROS.length, s.length() - fed);
          md.update(ZEROS, 0, n);
          fed += n;
        }
      } else {
        byte[] data = await(s.result());
        md.update(data, 0, (int) s.length());
        free.add(data);
        reading--;
      }
      if (progress != null) {
        progress.accept(s.start() + s.length());
      }
    }
    return new ContentHash(algorithm, md.digest());
  }

  private static ContentHash tree(
      DiskImage image, int threads, ExecutorService pool, LongConsumer progress)
      throws IOException {
    MessageDigest top = digest(HashAlgorithm.TREE_SHA256);
    long size = image.size();
    long chunks = (size + CHUNK - 1) / CHUNK;
    byte[] zeroDigest = digest(HashAlgorithm.SHA256).digest(ZEROS);
    int window = 2 * threads + 2;
    ArrayDeque<Segment> pending = new ArrayDeque<>();
    ThreadLocal<byte[]> buffers = ThreadLocal.withInitial(() -> new byte[CHUNK]);
    int reading = 0;
    long planned = 0; // in chunks
    while (planned < chunks || !pending.isEmpty()) {
      while (planned < chunks && reading < window && pending.size() < 4 * window) {
        long start = planned * CHUNK;
        int length = (int) Math.min(CHUNK, size - start);
        BlockStatus status = image.blockStatus(start, size - start);
        if (status.zero() && !status.data() && status.length() >= length) {
          // Every whole chunk inside the zero run takes the precomputed digest; a short last
          // chunk of the disk, when the run reaches the end, is digested here (it is small).
          long whole = Math.min(status.length() / CHUNK, chunks - planned);
          if (whole == 0) {
            whole = 1; // the short last chunk
          }
          pending.add(new Segment(start, whole, null));
          planned += whole;
          continue;
        }
        pending.add(
            new Segment(
                start,
                1,
                pool.submit(
                    () -> {
                      byte[] buffer = buffers.get();
                      image.readFully(ByteBuffer.wrap(buffer, 0, length), start);
                      MessageDigest md = digest(HashAlgorithm.SHA256);
                      md.update(buffer, 0, length);
                      return md.digest();
                    })));
        reading++;
        planned++;
      }
      Segment s = pending.poll();
      if (s.result() == null) {
        for (long i = 0; i < s.length(); i++) {
          long start = s.start() + i * CHUNK;
          int length = (int) Math.min(CHUNK, size - start);
          top.update(length == CHUNK ? zeroDigest : zeroDigest(length));
        }
      } else {
        top.update(await(s.result()));
        reading--;
      }
      if (progress != null) {
        progress.accept(Math.min(size, s.start() + s.length() * CHUNK));
      }
    }
    top.update(ByteBuffer.allocate(8).putLong(size).array());
    return new ContentHash(HashAlgorithm.TREE_SHA256, top.digest());
  }

  private static byte[] zeroDigest(int length) {
    MessageDigest md = digest(HashAlgorithm.SHA256);
    md.update(ZEROS, 0, length);
    return md.digest();
  }

  private static MessageDigest digest(HashAlgorithm algorithm) {
    try {
      return MessageDigest.getInstance(algorithm.jcaName());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK lacks " + algorithm.jcaName(), e);
    }
  }

  private static <T> T await(Future<T> f) throws IOException {
    return Workers.await(f, "hashing");
  }
}
