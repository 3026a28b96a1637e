package dev.qcow2.tools.repo;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Set;

/**
 * Replaces a file atomically: the new content goes to a temporary file in the same folder, is
 * forced to disk, and is renamed over the old one; then the folder is forced so the rename itself
 * survives a crash. A reader sees the old content or the new, never a mix, and a crash at any point
 * leaves one of them complete.
 */
public final class IndexWriter {
  private IndexWriter() {}

  public static void write(Path file, String content) throws IOException {
    write(DurableFiles.REAL, file, content.getBytes(StandardCharsets.UTF_8));
  }

  public static void write(Path file, byte[] content) throws IOException {
    write(DurableFiles.REAL, file, content);
  }

  static void write(DurableFiles files, Path file, byte[] content) throws IOException {
    Path dir = file.toAbsolutePath().getParent();
    Path tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp");
    try {
      // Readable by others, as Cangallo's files are: repositories are served over HTTP as they are.
      Set<PosixFilePermission> mode =
          Files.exists(file)
              ? Files.getPosixFilePermissions(file)
              : PosixFilePermissions.fromString("rw-r--r--");
      try {
        Files.setPosixFilePermissions(tmp, mode);
      } catch (UnsupportedOperationException e) {
        // not a POSIX file system: its defaults apply
      }
      try (FileChannel ch =
          FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
        ByteBuffer buf = ByteBuffer.wrap(content);
        while (buf.hasRemaining()) {
          ch.write(buf);
        }
      }
      // The content is durable before its new name is: a cut never finds the name on an empty file.
      files.force(tmp);
      moveDurably(files, tmp, file);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** Renames {@code from} over {@code to} (same folder) and forces the folder. */
  public static void moveDurably(Path from, Path to) throws IOException {
    moveDurably(DurableFiles.REAL, from, to);
  }

  static void moveDurably(DurableFiles files, Path from, Path to) throws IOException {
    files.rename(from, to);
    files.forceDirectory(to.toAbsolutePath().getParent());
  }

  /** Forces a file's content to disk. */
  public static void force(Path file) throws IOException {
    DurableFiles.REAL.force(file);
  }

  /**
   * Creates {@code dir} and the folders missing above it, each made durable in its parent: files
   * made durable later in a folder whose own name was lost would be lost with it.
   */
  static void createDirectories(DurableFiles files, Path dir) throws IOException {
    Deque<Path> missing = new ArrayDeque<>();
    for (Path d = dir.toAbsolutePath(); d != null && !Files.isDirectory(d); d = d.getParent()) {
      missing.push(d);
    }
    Files.createDirectories(dir);
    for (Path d : missing) {
      files.forceDirectory(d.getParent());
    }
  }
}
