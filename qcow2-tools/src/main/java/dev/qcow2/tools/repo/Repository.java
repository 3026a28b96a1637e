package dev.qcow2.tools.repo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.DiskImage;
import dev.qcow2.ImageInfo;
import dev.qcow2.OpenOptions;
import dev.qcow2.convert.ConvertOptions;
import dev.qcow2.convert.ImageConverter;
import dev.qcow2.hash.ContentHasher;
import dev.qcow2.hash.HashAlgorithm;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.OffsetDateTime;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.UnaryOperator;

/**
 * A Cangallo repository: a folder of {@code <sha256>.qcow2} files and {@code index.yaml}.
 *
 * <p>Changes to the index are read-modify-write cycles under an exclusive lock on {@code
 * index.yaml.lock} (a file lock between processes, a {@link ReentrantLock} between threads), and
 * each ends with an atomic replacement of {@code index.yaml} ({@link IndexWriter}), so concurrent
 * canga processes lose no update and a crash leaves the old or the new index. Image files are
 * written under a temporary name, forced, and renamed into place (the folder forced) before the
 * index names them; every such step goes through {@link DurableFiles}. Long work (hashing,
 * converting, downloading) happens outside the lock.
 */
public final class Repository {
  private static final Map<Path, ReentrantLock> THREAD_LOCKS = new ConcurrentHashMap<>();

  private final RepositoryConfig.RepoSettings settings;
  private final Path dir;

  private final dev.qcow2.CompressionType compressionType;
  private final DurableFiles files;

  /**
   * Opens the repository, creating its folder as Cangallo does; images are stored zstd-compressed.
   */
  public Repository(RepositoryConfig.RepoSettings settings) throws IOException {
    this(settings, dev.qcow2.CompressionType.ZSTD);
  }

  /** Opens the repository, creating its folder as Cangallo does. */
  public Repository(
      RepositoryConfig.RepoSettings settings, dev.qcow2.CompressionType compressionType)
      throws IOException {
    this(settings, compressionType, DurableFiles.REAL);
  }

  /**
   * As the public constructor, with the durable file operations given (tests cut the power there).
   */
  Repository(
      RepositoryConfig.RepoSettings settings,
      dev.qcow2.CompressionType compressionType,
      DurableFiles files)
      throws IOException {
    this.settings = settings;
    this.compressionType = compressionType;
    this.files = files;
    this.dir = settings.path();
    IndexWriter.createDirectories(files, dir);
  }

  public String name() {
    return settings.name();
  }

  public RepositoryConfig.RepoSettings settings() {
    return settings;
  }

  public Path dir() {
    return dir;
  }

  public Path indexFile() {
    return dir.resolve("index.yaml");
  }

  public Path imagePath(String sha256) {
    return dir.resolve(sha256 + ".qcow2");
  }

  /** The index as it is on disk now. */
  public RepositoryIndex index() throws IOException {
    return RepositoryIndex.read(indexFile());
  }

  /** Applies {@code change} to the current index under the lock and stores the result. */
  public RepositoryIndex update(UnaryOperator<RepositoryIndex> change) throws IOException {
    return locked(
        () -> {
          RepositoryIndex next = change.apply(index());
          IndexWriter.write(
              files, indexFile(), next.toYaml().getBytes(java.nio.charset.StandardCharsets.UTF_8));
          return next;
        });
  }

  /** Work that must not overlap with index updates of other threads or processes. */
  public interface LockedWork<T> {
    T run() throws IOException;
  }

  public <T> T locked(LockedWork<T> work) throws IOException {
    ReentrantLock threadLock =
        THREAD_LOCKS.computeIfAbsent(dir.toAbsolutePath().normalize(), d -> new ReentrantLock());
    threadLock.lock();
    try (FileChannel ch =
        FileChannel.open(
            dir.resolve("index.yaml.lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
      FileLock lock = ch.lock();
      try {
        return work.run();
      } finally {
        lock.release();
      }
    } finally {
      threadLock.unlock();
    }
  }

  /** What {@link #addImage} stores besides the file. */
  public record AddRequest(
      Path file, String parentSha256, boolean copy, ObjectNode metadata, String tag) {}

  /**
   * Stores {@code file} as a new image and returns its sha256 (the content hash of the whole disk).
   * Without a parent the file becomes a compressed qcow2; with one, a compressed delta whose
   * backing file is {@code <parent>.qcow2} and that holds only the clusters that differ from the
   * parent; with {@code copy} the file's bytes are kept as they are. An image that is already there
   * is stored again and its entry replaced in place, as Cangallo does.
   */
  public String addImage(AddRequest req, PrintStream out) throws IOException {
    ImageEntry parent = null;
    if (req.parentSha256() != null) {
      parent = index().image(req.parentSha256());
      if (parent == null) {
        throw new CangaException("Parent not found");
      }
      if (!Files.exists(imagePath(req.parentSha256()))) {
        throw new CangaException(
            "The file of parent image "
                + req.parentSha256()
                + " is not in "
                + dir
                + " (pull it first)");
      }
    }
    int threads = Runtime.getRuntime().availableProcessors();
    String sha;
    Path target;
    Path tmp = tempPath(".qcow2.tmp");
    boolean fileIsDisk;
    try (DiskImage source = DiskImage.open(req.file())) {
      // A raw file whose size is whole sectors is its own disk: its file digest is the content's.
      fileIsDisk = "raw".equals(source.format()) && source.size() == Files.size(req.file());
      out.print("Calculating image sha256\n");
      out.flush();
      sha = ContentHasher.hash(source, HashAlgorithm.SHA256, threads, null).hex();
      out.print("Image SHA256: " + sha + "\n");
      out.print("Copying file to repository\n");
      out.flush();
      target = imagePath(sha);
      if (sha.equals(req.parentSha256())) {
        // The same disk as its parent: the parent is this image already (a delta on itself
        // would be its own backing file).
        out.print("Image is identical to its parent; nothing to store\n");
        out.flush();
        return sha;
      }
      if (req.copy()) {
        Files.copy(req.file(), tmp, StandardCopyOption.REPLACE_EXISTING);
      } else {
        ConvertOptions.Builder options =
            ConvertOptions.builder()
                .targetFormat("qcow2")
                .compress(true)
                .outOfOrder(true)
                .threads(threads)
                .createOptions(
                    dev.qcow2.CreateOptions.builder(0).compressionType(compressionType).build());
        if (parent != null) {
          options.backing(req.parentSha256() + ".qcow2", parent.format());
        }
        ImageConverter.convert(source, tmp, options.build());
      }
      // Durable under its temporary name first: a cut never finds an incomplete file under the
      // final name, which a later add or pull would take for the image.
      files.force(tmp);
      IndexWriter.moveDurably(files, tmp, target);
    } finally {
      Files.deleteIfExists(tmp);
    }
    ObjectNode entry =
        req.metadata() == null ? JsonNodeFactory.instance.objectNode() : req.metadata().deepCopy();
    if (parent != null) {
      ObjectNode withParent = JsonNodeFactory.instance.objectNode();
      withParent.put("parent", req.parentSha256());
      entry.remove("parent");
      withParent.setAll(entry);
      entry = withParent;
    }
    ImageInfo info;
    try (DiskImage stored =
        DiskImage.open(target, OpenOptions.builder().openBacking(false).build())) {
      info = stored.info();
    }
    entry.put("virtual-size", info.virtualSize());
    entry.put("format", info.format());
    entry.put("actual-size", info.actualSize());
    ObjectNode spec = FormatSpecific.of(info);
    if (spec != null) {
      entry.set("format-specific", spec);
    }
    entry.put(
        "file-sha256",
        fileIsDisk ? sha : ContentHasher.hashFile(req.file(), HashAlgorithm.SHA256).hex());
    entry.set("creation-time", PsychYaml.time(OffsetDateTime.now()));
    entry.put("sha256", sha);
    ImageEntry image = ImageEntry.of(entry);
    update(
        index -> {
          RepositoryIndex next = index.withImage(image);
          return req.tag() == null ? next : next.withTag(req.tag(), sha);
        });
    return sha;
  }

  /** A unique name in the repository folder for work in progress. */
  Path tempPath(String suffix) {
    return dir.resolve(
        ".canga-" + ProcessHandle.current().pid() + "-" + System.nanoTime() + suffix);
  }

  /**
   * The entry of {@code sha256}, as a YAML node with {@code repo} appended (what {@code show}
   * prints).
   */
  public static JsonNode withRepo(ImageEntry entry, String repo) {
    ObjectNode node = entry.node();
    node.put("repo", repo);
    return node;
  }
}
