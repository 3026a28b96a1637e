package dev.qcow2.tools.repo;

import com.fasterxml.jackson.core.JsonProcessingException;
import dev.qcow2.remote.S3Location;
import dev.qcow2.remote.S3RequestException;
import dev.qcow2.remote.S3Upload;
import java.io.IOException;
import java.net.URLEncoder;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * The index of a repository folder in an S3 store, kept so that concurrent writers lose nothing
 * without conditional writes (which some stores, s3proxy among them, ignore on PUT).
 *
 * <p>Beside {@code index.yaml}, each image has an immutable fragment {@code entries/<sha256>.yaml}
 * and each tag one {@code tags/<url-encoded name>.yaml}, each an index of one image or one tag. A
 * writer writes its fragments first (distinct keys: no writer overwrites another's), then rebuilds
 * {@code index.yaml} as the union of the old index and every fragment, and reads it back, again up
 * to {@value #ROUNDS} times, until the index it reads names every fragment it lists. A reader
 * ({@link #read}) takes the same union, so it sees every pushed image even when a racing writer's
 * index won the last write. {@code index.yaml} alone is what Cangallo clients read over HTTP.
 *
 * <p>Removal (an image, a tag) deletes the fragment and rebuilds without it; a removal racing a
 * writer that read the old index may bring the entry back into {@code index.yaml} (not into the
 * fragments), which the next removal clears.
 */
final class S3RemoteIndex {
  static final String INDEX = "index.yaml";
  static final String SIGNATURE = "index.yaml.sig";
  private static final String ENTRIES = "entries/";
  private static final String TAGS = "tags/";
  private static final int ROUNDS = 5;

  private final S3Client client;
  private final S3Location folder;

  /** Fragments already read, by key and ETag: a fragment does not change under its key. */
  private final Map<String, RepositoryIndex> fragments = new HashMap<>();

  S3RemoteIndex(S3Client client, S3Location folder) {
    this.client = client;
    this.folder = folder;
  }

  /** What the store holds now: {@code index.yaml} as it is (null if absent) and the union. */
  record State(String indexText, RepositoryIndex index, RepositoryIndex union) {
    /** Whether {@code index.yaml} already says everything the union does. */
    boolean indexComplete() {
      return indexText != null && same(index, union);
    }
  }

  State read() throws IOException {
    byte[] bytes = get(INDEX);
    String text = bytes == null ? null : new String(bytes, StandardCharsets.UTF_8);
    RepositoryIndex index = text == null ? RepositoryIndex.empty() : parse(text, INDEX);
    List<RepositoryIndex> images = new ArrayList<>();
    for (S3Object o : list(ENTRIES)) {
      // An image fragment never changes: one the index names already need not be read.
      String name = o.key().substring(o.key().lastIndexOf('/') + 1);
      if (!index.images().containsKey(name.substring(0, name.length() - ".yaml".length()))) {
        images.add(fragment(o));
      }
    }
    // Images the index does not name yet go after its own, oldest first.
    images.sort(
        Comparator.comparing(
                (RepositoryIndex f) ->
                    String.valueOf(
                        f.images()
                            .values()
                            .iterator()
                            .next()
                            .node()
                            .path("creation-time")
                            .asText()))
            .thenComparing(f -> f.images().keySet().iterator().next()));
    RepositoryIndex union = index;
    for (RepositoryIndex f : images) {
      for (ImageEntry e : f.images().values()) {
        union = union.withImage(e);
      }
    }
    for (S3Object o : list(TAGS)) {
      for (Map.Entry<String, String> t : fragment(o).tags().entrySet()) {
        union = union.withTag(t.getKey(), t.getValue());
      }
    }
    return new State(text, index, union);
  }

  /** Writes the fragments of {@code entries} the store lacks and of {@code tags}, then rebuilds. */
  void add(List<ImageEntry> entries, Map<String, String> tags) throws IOException {
    Set<String> present = new java.util.HashSet<>();
    for (S3Object o : list(ENTRIES)) {
      present.add(o.key());
    }
    for (ImageEntry e : entries) {
      String key = entryKey(e.sha256());
      if (!present.contains(folder.resolve(key).key())) {
        put(key, RepositoryIndex.empty().withImage(e).toYaml());
      }
    }
    for (Map.Entry<String, String> t : tags.entrySet()) {
      put(tagKey(t.getKey()), RepositoryIndex.empty().withTag(t.getKey(), t.getValue()).toYaml());
    }
    rebuild(Set.of(), Set.of());
  }

  /** Deletes the fragments of {@code image} and {@code tags}, then rebuilds without them. */
  void remove(Set<String> images, Set<String> tags) throws IOException {
    for (String sha : images) {
      delete(entryKey(sha));
    }
    for (String t : tags) {
      delete(tagKey(t));
    }
    rebuild(images, tags);
  }

  /**
   * Writes {@code index.yaml} as the union until a read-back finds it complete. A rewritten index
   * invalidates its signature, which is removed.
   */
  private void rebuild(Set<String> removedImages, Set<String> removedTags) throws IOException {
    for (int round = 0; round < ROUNDS; round++) {
      State s = read();
      RepositoryIndex want = s.union();
      for (String sha : removedImages) {
        want = want.withoutImage(sha);
      }
      for (String t : removedTags) {
        want = want.withoutTag(t);
      }
      if (s.indexText() != null && same(want, s.index())) {
        return;
      }
      put(INDEX, want.toYaml());
      delete(SIGNATURE);
    }
  }

  static boolean same(RepositoryIndex a, RepositoryIndex b) {
    return a.images().equals(b.images()) && a.tags().equals(b.tags());
  }

  private RepositoryIndex fragment(S3Object o) throws IOException {
    String cacheKey = o.key() + " " + o.eTag();
    RepositoryIndex f = fragments.get(cacheKey);
    if (f == null) {
      String name = o.key().substring(folder.key().length());
      byte[] bytes = get(name);
      f =
          bytes == null
              ? RepositoryIndex.empty()
              : parse(new String(bytes, StandardCharsets.UTF_8), name);
      if (name.startsWith(ENTRIES) && f.images().size() != 1) {
        throw new CangaException(folder + name + ": not an index of one image");
      }
      fragments.put(cacheKey, f);
    }
    return f;
  }

  private RepositoryIndex parse(String text, String name) {
    try {
      return RepositoryIndex.parse(text);
    } catch (JsonProcessingException | IllegalArgumentException e) {
      throw new CangaException(
          folder
              + name
              + ": not a Cangallo index: "
              + e.getMessage().replaceAll("\\s*[\\r\\n]+\\s*", " "));
    }
  }

  static String entryKey(String sha256) {
    return ENTRIES + sha256 + ".yaml";
  }

  static String tagKey(String tag) {
    return TAGS + URLEncoder.encode(tag, StandardCharsets.UTF_8) + ".yaml";
  }

  private List<S3Object> list(String sub) throws IOException {
    String keyPrefix = folder.key() + sub;
    try {
      List<S3Object> objects = new ArrayList<>();
      for (S3Object o :
          client
              .listObjectsV2Paginator(b -> b.bucket(folder.bucket()).prefix(keyPrefix))
              .contents()) {
        if (o.key().endsWith(".yaml")) {
          objects.add(o);
        }
      }
      return objects;
    } catch (SdkException e) {
      throw S3RequestException.of(client, folder, e);
    }
  }

  /** The bytes of {@code name} in the folder, or null if there is no such object. */
  byte[] get(String name) throws IOException {
    S3Location at = folder.resolve(name);
    return orNull(
        client,
        at,
        () -> client.getObjectAsBytes(b -> b.bucket(at.bucket()).key(at.key())).asByteArray());
  }

  /**
   * What {@code request} about {@code at} answers, or null if there is no such object; other
   * failures typed.
   */
  static <T> T orNull(S3Client client, S3Location at, Supplier<T> request)
      throws S3RequestException {
    try {
      return request.get();
    } catch (NoSuchKeyException e) {
      return null;
    } catch (SdkException e) {
      S3RequestException typed = S3RequestException.of(client, at, e);
      if (typed.reason() == S3RequestException.Reason.NO_SUCH_OBJECT) {
        return null;
      }
      throw typed;
    }
  }

  void put(String name, String text) throws IOException {
    put(name, text.getBytes(StandardCharsets.UTF_8));
  }

  void put(String name, byte[] bytes) throws IOException {
    S3Upload.put(client, folder.resolve(name), ByteBuffer.wrap(bytes), Map.of());
  }

  void delete(String name) throws IOException {
    S3Location at = folder.resolve(name);
    try {
      client.deleteObject(b -> b.bucket(at.bucket()).key(at.key()));
    } catch (SdkException e) {
      throw S3RequestException.of(client, at, e);
    }
  }
}
