package dev.qcow2.tools.repo;

import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.Storage;
import dev.qcow2.hash.ContentHasher;
import dev.qcow2.hash.HashAlgorithm;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * The content hash of a qcow2 image computed while its file is still being downloaded, so that a
 * pull costs about the longer of the two instead of their sum (a 529 MiB image from S3: 4.2 s of
 * download, then 3 s of hashing). The download appends to the part file in order; the hash reads it
 * through a {@link Storage} whose reads wait until the bytes they need are there.
 *
 * <p>It only ever spares work: its answer counts when it equals the expected sha256 and the file
 * came complete at the length the server gave. Anything else (an image that is not qcow2, a
 * failure, another hash) leaves the verdict and its message to the ordinary check of the finished
 * file, which reads it as before.
 */
final class HashWhileDownloading implements AutoCloseable {
  private static final long POLL_NANOS = 2_000_000;

  private final Path part;
  private final long length;
  private final FileChannel in;
  private volatile boolean ended;
  private final CompletableFuture<String> hash = new CompletableFuture<>();

  private HashWhileDownloading(Path part, long length) throws IOException {
    this.part = part;
    this.length = length;
    this.in = FileChannel.open(part, StandardOpenOption.READ);
  }

  /**
   * Starts hashing {@code part}, whose download of {@code length} bytes in all has begun; null when
   * the file cannot be opened for reading (the ordinary check then runs alone).
   */
  static HashWhileDownloading start(Path part, long length) {
    try {
      HashWhileDownloading h = new HashWhileDownloading(part, length);
      Thread t = new Thread(h::run, "canga-hash-while-downloading");
      t.setDaemon(true);
      t.start();
      return h;
    } catch (IOException e) {
      return null;
    }
  }

  private void run() {
    try (Qcow2Image image = Qcow2Image.open(part, new GrowingPart(), OpenOptions.defaults())) {
      hash.complete(
          ContentHasher.hash(
                  image, HashAlgorithm.SHA256, Runtime.getRuntime().availableProcessors(), null)
              .hex());
    } catch (IOException | RuntimeException e) {
      hash.completeExceptionally(e);
    }
  }

  /**
   * Whether the finished download is {@code sha256}'s content: waits for the hash, which no longer
   * waits for bytes. False when the hash failed, differs, or the file is not as long as announced.
   */
  boolean proves(String sha256) throws IOException {
    ended = true;
    try {
      return in.size() == length && sha256.equals(hash.get());
    } catch (ExecutionException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while hashing " + part);
    }
  }

  /** The download failed or stopped: the hash stops at the first byte it lacks; waits for it. */
  @Override
  public void close() throws IOException {
    ended = true;
    try {
      hash.handle((h, e) -> null).get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException e) {
      throw new IllegalStateException(e); // handle() completes normally
    } finally {
      in.close();
    }
  }

  /** The part file as the download fills it, at its announced length; read-only. */
  private final class GrowingPart implements Storage {
    @Override
    public String name() {
      return part.toString();
    }

    @Override
    public long size() {
      return length;
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
      long end = Math.min(length, position + dst.remaining());
      while (in.size() < end) {
        if (ended) {
          throw new IOException(part + ": the download stopped before byte " + end);
        }
        try {
          Thread.sleep(POLL_NANOS / 1_000_000);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new InterruptedIOException("interrupted while waiting for " + part);
        }
      }
      int total = 0;
      while (dst.hasRemaining()) {
        int n = in.read(dst, position + total);
        if (n < 0) {
          break;
        }
        total += n;
      }
      return total;
    }

    @Override
    public void write(ByteBuffer src, long position) throws IOException {
      throw new IOException(part + ": read-only while downloading");
    }

    @Override
    public void force() {
      // Nothing is written.
    }

    @Override
    public void truncate(long size) throws IOException {
      throw new IOException(part + ": read-only while downloading");
    }

    @Override
    public boolean isReadOnly() {
      return true;
    }

    @Override
    public void close() {
      // The channel is the outer object's, closed with it.
    }
  }
}
