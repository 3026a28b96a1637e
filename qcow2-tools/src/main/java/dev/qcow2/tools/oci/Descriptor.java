package dev.qcow2.tools.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * An OCI content descriptor: what a manifest or an index says about a blob it points to ({@code
 * mediaType}, {@code digest}, {@code size}, optional {@code annotations}).
 */
public record Descriptor(
    String mediaType, Digest digest, long size, Map<String, String> annotations) {
  public Descriptor {
    if (size < 0) {
      throw new IllegalArgumentException("descriptor size " + size + " < 0");
    }
    annotations = Map.copyOf(new LinkedHashMap<>(annotations));
  }

  public Descriptor(String mediaType, Digest digest, long size) {
    this(mediaType, digest, size, Map.of());
  }

  /** The descriptor of {@code bytes} stored as a blob. */
  public static Descriptor of(String mediaType, byte[] bytes) {
    return new Descriptor(mediaType, Digest.of(bytes), bytes.length);
  }

  public Descriptor withAnnotations(Map<String, String> more) {
    Map<String, String> all = new LinkedHashMap<>(annotations);
    all.putAll(more);
    return new Descriptor(mediaType, digest, size, all);
  }

  public ObjectNode toJson() {
    ObjectNode n = JsonNodeFactory.instance.objectNode();
    n.put("mediaType", mediaType);
    n.put("digest", digest.toString());
    n.put("size", size);
    if (!annotations.isEmpty()) {
      ObjectNode a = n.putObject("annotations");
      new TreeMap<>(annotations).forEach(a::put);
    }
    return n;
  }

  /**
   * Reads a descriptor.
   *
   * @param where what holds it, for the message ("manifest ns/repo:tag config")
   */
  public static Descriptor fromJson(JsonNode n, String where) throws OciException {
    if (n == null || !n.isObject()) {
      throw new OciException(OciException.Kind.INVALID, where + ": not a descriptor");
    }
    JsonNode media = n.get("mediaType");
    JsonNode digest = n.get("digest");
    JsonNode size = n.get("size");
    if (media == null
        || !media.isTextual()
        || digest == null
        || !digest.isTextual()
        || size == null
        || !size.canConvertToLong()
        || size.longValue() < 0) {
      throw new OciException(
          OciException.Kind.INVALID,
          where + ": a descriptor needs mediaType, digest and a size >= 0");
    }
    Digest d;
    try {
      d = Digest.parse(digest.asText());
    } catch (IllegalArgumentException e) {
      throw new OciException(OciException.Kind.INVALID, where + ": " + e.getMessage());
    }
    return new Descriptor(media.asText(), d, size.longValue(), annotations(n.get("annotations")));
  }

  /** The string values of an {@code annotations} object (absent: empty). */
  static Map<String, String> annotations(JsonNode a) {
    Map<String, String> map = new LinkedHashMap<>();
    if (a != null && a.isObject()) {
      a.properties().forEach(e -> map.put(e.getKey(), e.getValue().asText()));
    }
    return map;
  }
}
