package dev.qcow2.tools.repo;

import dev.qcow2.remote.S3Location;
import java.io.Closeable;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A remote repository: a Cangallo repository folder somewhere else, named by the {@code url} of a
 * {@code type: remote} repository whose {@code path} is its local cache. Every remote can be read
 * ({@link #fetchIndex}, {@link #fetchOptional}, {@link #pull}, each pull verified before the file
 * takes its place); a writable one can also be changed ({@link #push}, {@link #publish}, {@link
 * #delete}, {@link #tag}, {@link #deltag}, {@link #store}), which a read-only one refuses in one
 * line.
 *
 * <p>Made by {@link #open} from the URL's scheme. Not thread-safe; the caller closes it.
 */
public interface Remote extends Closeable {
  /**
   * The remote named by {@code url}: {@code http://} and {@code https://} for a published folder
   * (read-only), {@code s3://BUCKET/PREFIX} for a folder in an S3-compatible store (writable).
   *
   * @param env the environment the S3 client is configured from (endpoint, credentials, region)
   */
  static Remote open(String url, Map<String, String> env) throws IOException {
    return open(url, env, Set.of());
  }

  /**
   * The remote of the repository {@code settings}, with the insecure registries config.yaml lists
   * for it.
   */
  static Remote open(RepositoryConfig.RepoSettings settings, Map<String, String> env)
      throws IOException {
    return open(settings.url(), env, settings.insecureRegistries());
  }

  /**
   * As {@link #open(String, Map)}, and {@code oci://HOST[:PORT]/NAMESPACE/REPO} for a repository of
   * an OCI registry (writable).
   *
   * @param insecure registries ({@code host} or {@code host:port}) an {@code oci://} remote reaches
   *     over plain HTTP (loopback always is)
   */
  static Remote open(String url, Map<String, String> env, Set<String> insecure) throws IOException {
    if (url.startsWith("http://") || url.startsWith("https://")) {
      return new HttpRemote(url);
    }
    if (S3Location.isS3(url)) {
      return S3Remote.open(url, env);
    }
    if (OciRemote.isOci(url)) {
      return OciRemote.open(url, env, insecure);
    }
    throw new CangaException("Remote url '" + url + "' is not http://, https://, s3:// or oci://");
  }

  /** The remote's URL, as a folder. */
  String url();

  /** The text of the remote index: what a Cangallo client reads as {@code index.yaml}. */
  String fetchIndex() throws IOException;

  /** The bytes of {@code name} in the remote folder, or null if it has none. */
  byte[] fetchOptional(String name) throws IOException;

  /**
   * Downloads the file of {@code entry} into {@code repo} unless it is already there, verified.
   *
   * @param progress where the progress bar is drawn, or null for none
   */
  void pull(Repository repo, ImageEntry entry, PrintStream progress) throws IOException;

  /** Whether {@link #push} and the other changes are possible. */
  default boolean writable() {
    return false;
  }

  /**
   * Uploads {@code file}, the file of {@code entry}, unless the remote has it already.
   *
   * @param progress where a progress bar is drawn, or null for none
   * @return false if the remote had it
   */
  default boolean push(Path file, ImageEntry entry, PrintStream progress) throws IOException {
    throw readOnly("push");
  }

  /**
   * Adds {@code entries} (whose files were pushed) and {@code tags} (tag to sha256) to the remote
   * index.
   */
  default void publish(List<ImageEntry> entries, Map<String, String> tags) throws IOException {
    throw readOnly("push");
  }

  /**
   * Removes the image {@code sha256}, its tags and its file.
   *
   * @return false if the remote has no such image
   * @throws CangaException if another image of the remote has it as parent
   */
  default boolean delete(String sha256) throws IOException {
    throw readOnly("del");
  }

  /** Points {@code tag} at {@code sha256}, an image of the remote. */
  default void tag(String tag, String sha256) throws IOException {
    throw readOnly("tag");
  }

  /** Removes {@code tag}. */
  default void deltag(String tag) throws IOException {
    throw readOnly("deltag");
  }

  /** Writes {@code name} in the remote folder (the index signature). */
  default void store(String name, byte[] content) throws IOException {
    throw readOnly("sign");
  }

  private CangaException readOnly(String verb) {
    return new CangaException(
        "Remote " + url() + " is read-only: " + verb + " needs an s3:// remote");
  }
}
