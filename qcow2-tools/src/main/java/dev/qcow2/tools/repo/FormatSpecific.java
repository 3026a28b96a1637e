package dev.qcow2.tools.repo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.ImageInfo;
import dev.qcow2.tools.cli.JsonOutput;
import java.util.Map;

/**
 * The {@code format-specific} object of {@code qemu-img info --output=json} for a qcow2 image, with
 * its keys in the order qemu prints them ({@link JsonOutput#qdictEntries}), which is the order
 * Cangallo stores them in: {@code compat, compression-type, lazy-refcounts, refcount-bits, corrupt,
 * extended-l2} for a version 3 image.
 */
final class FormatSpecific {
  private FormatSpecific() {}

  /** The object, or null for a raw image (qemu prints none). */
  static ObjectNode of(ImageInfo info) {
    if (!info.isQcow2()) {
      return null;
    }
    ObjectNode data = dev.qcow2.tools.img.ImageInfoJson.qcow2Data(info);
    ObjectNode spec = JsonOutput.object();
    spec.put("type", "qcow2");
    spec.set("data", data);
    return ordered(spec);
  }

  private static ObjectNode ordered(ObjectNode node) {
    ObjectNode out = JsonNodeFactory.instance.objectNode();
    for (Map.Entry<String, JsonNode> e : JsonOutput.qdictEntries(node)) {
      JsonNode v = e.getValue();
      out.set(e.getKey(), v.isObject() ? ordered((ObjectNode) v) : v);
    }
    return out;
  }
}
