package dev.qcow2;

import java.nio.file.FileSystemException;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The images this process has open for writing, by real path. A process loses its POSIX locks on a
 * file when it closes any descriptor of it, so a second open of a file we write must not even open
 * a descriptor: a second writer is refused up front, and readers share the writer's storage.
 */
final class WriterRegistry {
  private static final ConcurrentHashMap<Path, Storage> WRITERS = new ConcurrentHashMap<>();

  /** Holds a writer's place while it opens. */
  private static final Storage UNCLAIMED = Storage.inMemory("unclaimed", new byte[0]);

  private WriterRegistry() {}

  /** Whether this process has {@code real} open for writing (so it is a qcow2 image). */
  static boolean isOpenForWriting(Path real) {
    return WRITERS.containsKey(real);
  }

  /** The storage of the open writer of {@code real}, for a reader to share, or null. */
  static Storage writerStorage(Path real) {
    Storage s = WRITERS.get(real);
    return s == UNCLAIMED ? null : s;
  }

  /** Holds {@code real}'s place for a writer that is opening, or refuses a second writer. */
  static void claim(Path real, Path path) throws FileSystemException {
    if (WRITERS.putIfAbsent(real, UNCLAIMED) != null) {
      throw new FileSystemException(
          path.toString(), null, "image is already open for writing in this process");
    }
  }

  /** The claimed writer is open, on {@code storage}. */
  static void opened(Path real, Storage storage) {
    WRITERS.put(real, storage);
  }

  /** The claimed writer failed to open. */
  static void abandon(Path real) {
    WRITERS.remove(real, UNCLAIMED);
  }

  /** The writer closed. */
  static void closed(Path real) {
    WRITERS.remove(real);
  }
}
