package dev.qcow2.tools.repo;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * The three file system operations a repository's durability rests on: forcing a file's content,
 * renaming a file over another, and forcing a folder so that the names in it survive. A power cut
 * keeps a file's content only once it was forced and a name only once its folder was; every durable
 * change in the repository is made of these steps in that order, so they go through this one seam,
 * which a test replaces to replay what a cut at each step would keep.
 */
interface DurableFiles {

  /** Makes the content of {@code file} durable. */
  void force(Path file) throws IOException;

  /**
   * Renames {@code from} over {@code to} in the same folder, atomically where the file system can.
   */
  void rename(Path from, Path to) throws IOException;

  /** Makes the names in {@code dir} (created, renamed, removed) durable. */
  void forceDirectory(Path dir) throws IOException;

  /** The real file system. */
  DurableFiles REAL =
      new DurableFiles() {
        @Override
        public void force(Path file) throws IOException {
          try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.force(true);
          }
        }

        @Override
        public void rename(Path from, Path to) throws IOException {
          try {
            Files.move(
                from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
          } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
          }
        }

        @Override
        public void forceDirectory(Path dir) {
          try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
          } catch (IOException e) {
            // Some file systems cannot open or sync a folder; the rename is still atomic there.
          }
        }
      };
}
