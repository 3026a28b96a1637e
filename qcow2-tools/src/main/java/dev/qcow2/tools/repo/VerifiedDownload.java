package dev.qcow2.tools.repo;

import dev.qcow2.DiskImage;
import dev.qcow2.hash.ContentHasher;
import dev.qcow2.hash.HashAlgorithm;
import dev.qcow2.tools.cli.ProgressBar;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * How every kind of remote brings an image file into the local cache: into {@code
 * <sha256>.qcow2.part} under a file lock, resumed from what an interrupted pull left there, and
 * renamed into place only after it is verified: the content hash of the disk (through its already
 * present parents) must be the image's sha256. A failed or corrupt download never replaces or
 * creates {@code <sha256>.qcow2}, and a download that failed before its first byte leaves nothing.
 */
final class VerifiedDownload {
  private VerifiedDownload() {}

  /** Fills the part file from the remote, appending to what it holds when the remote can. */
  interface Transfer {
    void into(FileChannel part, PrintStream progress) throws IOException;
  }

  static void pull(Repository repo, ImageEntry entry, Transfer transfer, PrintStream progress)
      throws IOException {
    String sha = entry.sha256();
    Path target = repo.imagePath(sha);
    Path part = repo.dir().resolve(sha + ".qcow2.part");
    try (FileChannel ch =
        FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
      // Released when the channel closes; one pull of this file at a time across processes.
      FileLock lock = ch.lock();
      assert lock.isValid();
      if (Files.exists(target)) {
        Files.deleteIfExists(part);
        return; // another process pulled it while we waited
      }
      Overlap overlap = new Overlap(part, entry);
      OVERLAP.set(overlap);
      try {
        transfer.into(ch, progress);
      } catch (IOException | RuntimeException e) {
        overlap.close();
        if (ch.size() == 0) {
          Files.deleteIfExists(part); // nothing to resume from
        }
        throw e;
      } finally {
        OVERLAP.remove();
      }
      ch.force(true);
      try {
        if (!overlap.proves()) {
          verify(entry, part);
        }
      } catch (IOException | RuntimeException e) {
        Files.deleteIfExists(part);
        throw e;
      } finally {
        overlap.close();
      }
      IndexWriter.moveDurably(part, target);
    }
  }

  /**
   * Tells the pull running on this thread that its file's download of {@code length} bytes in all
   * starts now, appending to what the part file holds, which no longer changes.
   */
  static void downloading(long length) {
    Overlap overlap = OVERLAP.get();
    if (overlap != null) {
      overlap.downloading(length);
    }
  }

  /**
   * The pull running on this thread, for {@link #downloading} to start its hash beside the
   * download: only the transfer knows when the download's length is known and the bytes before it
   * final.
   */
  private static final ThreadLocal<Overlap> OVERLAP = new ThreadLocal<>();

  /** A pull's content hash while it downloads, when its image is a qcow2 hashed as content. */
  private static final class Overlap {
    private final Path part;
    private final ImageEntry entry;
    private HashWhileDownloading hash;

    Overlap(Path part, ImageEntry entry) {
      this.part = part;
      this.entry = entry;
    }

    void downloading(long length) {
      // A verbatim raw image is checked by its file hash; a second copy in one pull starts none.
      if (hash == null
          && length > 0
          && "qcow2".equals(entry.format())
          && !entry.sha256().equals(entry.fileSha256())) {
        hash = HashWhileDownloading.start(part, length);
      }
    }

    boolean proves() throws IOException {
      return hash != null && hash.proves(entry.sha256());
    }

    void close() throws IOException {
      if (hash != null) {
        hash.close();
      }
    }
  }

  /**
   * Appends {@code in} to {@code ch} from {@code have}, drawing progress against {@code total} when
   * known.
   */
  static void copy(InputStream in, FileChannel ch, long have, long total, PrintStream progress)
      throws IOException {
    downloading(total);
    ProgressBar bar = total > 0 && progress != null ? new ProgressBar(progress, total) : null;
    OutputStream out = Channels.newOutputStream(ch);
    byte[] buf = new byte[1 << 16];
    long done = have;
    int n;
    while ((n = in.read(buf)) > 0) {
      out.write(buf, 0, n);
      done += n;
      if (bar != null) {
        bar.accept(done);
      }
    }
    out.flush();
    if (bar != null) {
      bar.finish();
    }
  }

  /**
   * Checks a downloaded file: the sha256 of its bytes is compared with {@code file-sha256} (equal
   * for images stored verbatim; Cangallo records the hash of the file given to {@code add}, so for
   * converted images it differs by design), and the content hash of the disk must be the image id.
   */
  static void verify(ImageEntry entry, Path part) throws IOException {
    String sha = entry.sha256();
    // The file's own hash can only spare the content hash when the entry says the file is its
    // content; otherwise reading the whole file once more (0.8 s for a 529 MiB image) proves
    // nothing.
    if (sha.equals(entry.fileSha256())
        && ContentHasher.hashFile(part, HashAlgorithm.SHA256).hex().equals(sha)) {
      return; // a verbatim raw image: its bytes are its content
    }
    String content;
    try (DiskImage image = DiskImage.open(part)) {
      content =
          ContentHasher.hash(
                  image, HashAlgorithm.SHA256, Runtime.getRuntime().availableProcessors(), null)
              .hex();
    } catch (IOException e) {
      throw new CangaException(
          "Downloaded file of " + sha + " is not a valid image: " + e.getMessage());
    }
    if (!content.equals(sha)) {
      throw new CangaException(
          "Downloaded file of " + sha + " is corrupt: its content sha256 is " + content);
    }
  }
}
