package dev.qcow2.tools.repo;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An immutable view of a repository's {@code index.yaml}, version 0:
 *
 * <pre>
 * version: 0
 * images:            # sha256 → {@link ImageEntry}, in insertion order
 * tags:              # tag name → sha256, in insertion order
 * </pre>
 *
 * Unknown top-level keys and unknown keys of entries are kept and written back. Every change
 * returns a new index; {@link Repository#update} makes one durable.
 */
public final class RepositoryIndex {
  private final JsonNode version;
  private final Map<String, ImageEntry> images;
  private final Map<String, String> tags;
  private final ObjectNode extra;

  private RepositoryIndex(
      JsonNode version,
      Map<String, ImageEntry> images,
      Map<String, String> tags,
      ObjectNode extra) {
    this.version = version;
    this.images = Collections.unmodifiableMap(images);
    this.tags = Collections.unmodifiableMap(tags);
    this.extra = extra;
  }

  /** An index with no images and no tags. */
  public static RepositoryIndex empty() {
    return new RepositoryIndex(
        JsonNodeFactory.instance.numberNode(0),
        new LinkedHashMap<>(),
        new LinkedHashMap<>(),
        JsonNodeFactory.instance.objectNode());
  }

  /** Reads {@code file}; a missing file is an empty repository, as for Cangallo. */
  public static RepositoryIndex read(Path file) throws IOException {
    String text;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      return empty();
    }
    try {
      return parse(text);
    } catch (IllegalArgumentException | JsonProcessingException e) {
      throw new IOException(file + ": not a Cangallo index: " + e.getMessage(), e);
    }
  }

  /** Parses the text of an index (Ruby Psych or our own output). */
  public static RepositoryIndex parse(String text) throws JsonProcessingException {
    JsonNode root = PsychYaml.parse(text);
    if (!root.isObject()) {
      throw new IllegalArgumentException("the index is not a mapping");
    }
    ObjectNode extra = ((ObjectNode) root).deepCopy();
    JsonNode version = extra.remove("version");
    JsonNode imageNode = extra.remove("images");
    JsonNode tagNode = extra.remove("tags");
    Map<String, ImageEntry> images = new LinkedHashMap<>();
    if (imageNode != null && !imageNode.isNull()) {
      if (!imageNode.isObject()) {
        throw new IllegalArgumentException("'images' is not a mapping");
      }
      for (Map.Entry<String, JsonNode> e : imageNode.properties()) {
        images.put(e.getKey(), ImageEntry.of(e.getValue()));
      }
    }
    Map<String, String> tags = new LinkedHashMap<>();
    if (tagNode != null && !tagNode.isNull()) {
      if (!tagNode.isObject()) {
        throw new IllegalArgumentException("'tags' is not a mapping");
      }
      for (Map.Entry<String, JsonNode> e : tagNode.properties()) {
        tags.put(e.getKey(), e.getValue().asText());
      }
    }
    return new RepositoryIndex(
        version == null ? JsonNodeFactory.instance.numberNode(0) : version, images, tags, extra);
  }

  /** The index as Psych would write it. */
  public String toYaml() {
    ObjectNode root = JsonNodeFactory.instance.objectNode();
    root.set("version", version);
    ObjectNode imageNode = root.putObject("images");
    images.forEach((sha, e) -> imageNode.set(sha, e.node()));
    ObjectNode tagNode = root.putObject("tags");
    tags.forEach(tagNode::put);
    root.setAll(extra.deepCopy());
    return PsychYaml.emit(root);
  }

  /**
   * A copy of a top-level mapping Cangallo does not know (our {@code bases}, {@code layers}); empty
   * if absent.
   */
  public ObjectNode section(String key) {
    JsonNode n = extra.get(key);
    return n != null && n.isObject()
        ? ((ObjectNode) n).deepCopy()
        : JsonNodeFactory.instance.objectNode();
  }

  /** This index with the top-level mapping {@code key} replaced (removed when empty). */
  public RepositoryIndex withSection(String key, ObjectNode value) {
    ObjectNode e = extra.deepCopy();
    if (value.isEmpty()) {
      e.remove(key);
    } else {
      e.set(key, value.deepCopy());
    }
    return new RepositoryIndex(version, new LinkedHashMap<>(images), new LinkedHashMap<>(tags), e);
  }

  /** Images by sha256, in index order (unmodifiable). */
  public Map<String, ImageEntry> images() {
    return images;
  }

  /** Tags to sha256, in index order (unmodifiable). */
  public Map<String, String> tags() {
    return tags;
  }

  public ImageEntry image(String sha256) {
    return images.get(sha256);
  }

  /** A copy with {@code entry} stored under its sha256, replacing (in place) any entry there. */
  public RepositoryIndex withImage(ImageEntry entry) {
    Map<String, ImageEntry> copy = new LinkedHashMap<>(images);
    copy.put(entry.sha256(), entry);
    return new RepositoryIndex(version, copy, new LinkedHashMap<>(tags), extra);
  }

  /** A copy without the image and without every tag pointing to it. */
  public RepositoryIndex withoutImage(String sha256) {
    Map<String, ImageEntry> copy = new LinkedHashMap<>(images);
    copy.remove(sha256);
    Map<String, String> tagCopy = new LinkedHashMap<>(tags);
    tagCopy.values().removeIf(sha256::equals);
    return new RepositoryIndex(version, copy, tagCopy, extra);
  }

  /** A copy where {@code tag} points to {@code sha256}; a moved tag keeps its place, as in Ruby. */
  public RepositoryIndex withTag(String tag, String sha256) {
    Map<String, String> tagCopy = new LinkedHashMap<>(tags);
    tagCopy.put(tag, sha256);
    return new RepositoryIndex(version, new LinkedHashMap<>(images), tagCopy, extra);
  }

  public RepositoryIndex withoutTag(String tag) {
    Map<String, String> tagCopy = new LinkedHashMap<>(tags);
    tagCopy.remove(tag);
    return new RepositoryIndex(version, new LinkedHashMap<>(images), tagCopy, extra);
  }

  /**
   * A freshly fetched remote index, keeping the images of this one that the remote lacks but whose
   * files are here (built on top of the remote's images), with their tags.
   */
  public RepositoryIndex mergedInto(
      RepositoryIndex remote, java.util.function.Predicate<String> fileExists) {
    RepositoryIndex merged = remote;
    for (ImageEntry e : images.values()) {
      if (!remote.images.containsKey(e.sha256()) && fileExists.test(e.sha256())) {
        merged = merged.withImage(e);
        for (Map.Entry<String, String> t : tags.entrySet()) {
          if (t.getValue().equals(e.sha256()) && !remote.tags.containsKey(t.getKey())) {
            merged = merged.withTag(t.getKey(), t.getValue());
          }
        }
      }
    }
    return merged;
  }

  /**
   * The images {@code name} may mean here: the image with that full sha256; else the image an exact
   * tag points to; else every image whose sha256 starts with {@code name}. Unlike Cangallo, a tag
   * wins over a hash prefix, and the empty name matches nothing.
   */
  public List<String> candidates(String name) {
    if (name.isEmpty()) {
      return List.of();
    }
    if (images.containsKey(name)) {
      return List.of(name);
    }
    String tagged = tags.get(name);
    if (tagged != null && images.containsKey(tagged)) {
      return List.of(tagged);
    }
    List<String> found = new ArrayList<>();
    for (String sha : images.keySet()) {
      if (sha.startsWith(name)) {
        found.add(sha);
      }
    }
    return found;
  }

  /**
   * The last tag inserted for {@code sha256}, else its first 16 hex digits (Cangallo's short name).
   */
  public String shortName(String sha256) {
    String name = null;
    for (Map.Entry<String, String> t : tags.entrySet()) {
      if (t.getValue().equals(sha256)) {
        name = t.getKey();
      }
    }
    return name != null ? name : sha256.substring(0, Math.min(16, sha256.length()));
  }

  /** Every tag of {@code sha256}, in index order. */
  public List<String> tagsOf(String sha256) {
    List<String> list = new ArrayList<>();
    tags.forEach(
        (t, s) -> {
          if (s.equals(sha256)) {
            list.add(t);
          }
        });
    return list;
  }

  /** The images whose {@code parent} is {@code sha256}. */
  public List<String> children(String sha256) {
    List<String> list = new ArrayList<>();
    for (ImageEntry e : images.values()) {
      if (sha256.equals(e.parent())) {
        list.add(e.sha256());
      }
    }
    return list;
  }

  /**
   * {@code sha256} and its ancestors, the image first and the root last.
   *
   * @throws CangaException if an ancestor is missing from the index or the chain loops
   */
  public List<String> ancestors(String sha256) {
    List<String> chain = new ArrayList<>();
    String at = sha256;
    while (at != null) {
      ImageEntry e = images.get(at);
      if (e == null) {
        throw new CangaException(
            "Image " + at + " (an ancestor of " + sha256 + ") is not in the index");
      }
      if (chain.contains(at)) {
        throw new CangaException("The parents of " + sha256 + " form a loop at " + at);
      }
      chain.add(at);
      at = e.parent();
    }
    return chain;
  }
}
