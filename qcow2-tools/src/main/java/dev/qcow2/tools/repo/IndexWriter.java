package dev.qcow2.tools.repo;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * Replaces a file atomically: the new content goes to a temporary file in the same folder, is
 * forced to disk, and is renamed over the old one; then the folder is forced so the rename
 * itself survives a crash. A reader sees the old content or the new, never a mix, and a crash
 * at any point leaves one of them complete.
 */
public final class IndexWriter {
  private IndexWriter() {}

  public static void write(Path file, String content) throws IOException {
    write(file, content.getBytes(StandardCharsets.UTF_8));
  }

  public static void write(Path file, byte[] content) throws IOException {
    Path dir = file.toAbsolutePath().getParent();
    Path tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp");
    try {
      // Readable by others, as Cangallo's files are: repositories are served over HTTP as they are.
      Set<PosixFilePermission> mode = Files.exists(file)
          ? Files.getPosixFilePermissions(file)
          : PosixFilePermissions.fromString("rw-r--r--");
      try {
        Files.setPosixFilePermissions(tmp, mode);
      } catch (UnsupportedOperationException e) {
        // not a POSIX file system: its defaults apply
      }
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
        ByteBuffer buf = ByteBuffer.wrap(content);
        while (buf.hasRemaining()) {
          ch.write(buf);
        }
        ch.force(true);
      }
      moveDurably(tmp, file);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** Renames {@code from} over {@code to} (same folder) and forces the folder. */
  public static void moveDurably(Path from, Path to) throws IOException {
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
    }
    forceDirectory(to.toAbsolutePath().getParent());
  }

  /** Forces a file's content to disk. */
  public static void force(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.force(true);
    }
  }

  private static void forceDirectory(Path dir) {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException e) {
      // Some file systems cannot open or sync a folder; the rename is still atomic there.
    }
  }
}
