package dev.qcow2.tools.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Writes JSON the way qemu 7.2's {@code qobject_to_json_pretty} does, so that {@code --output=json}
 * matches qemu-img byte for byte.
 *
 * <p>qemu keeps objects in a QDict: a 512-bucket hash table whose iteration walks the buckets in
 * order and, inside a bucket, goes from the newest entry to the oldest. Key order in the output is
 * therefore the order of {@link #bucket} values, with later insertions first on a tie; callers add
 * keys in the order qemu's QAPI visitor would (the schema's field order). Pretty printing uses a
 * 4-space indent, {@code "key": value}, and puts a line break even inside empty containers.
 */
public final class JsonOutput {
  private static final int QDICT_BUCKET_MAX = 512;

  private JsonOutput() {}

  public static ObjectNode object() {
    return JsonNodeFactory.instance.objectNode();
  }

  /** The QDict bucket of {@code key}: qemu's tdb_hash modulo the bucket count. */
  static int bucket(String key) {
    byte[] name = key.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    int value = 0x238F13AF * name.length;
    for (int i = 0; i < name.length; i++) {
      value += (name[i] & 0xff) << (i * 5 % 24);
    }
    return Integer.remainderUnsigned(1103515243 * value + 12345, QDICT_BUCKET_MAX);
  }

  /** {@code node} in qemu's pretty form, without a trailing newline. */
  public static String pretty(JsonNode node) {
    StringBuilder sb = new StringBuilder();
    write(sb, node, 0);
    return sb.toString();
  }

  private static void write(StringBuilder sb, JsonNode node, int depth) {
    if (node.isObject()) {
      sb.append('{');
      String sep = "";
      for (Map.Entry<String, JsonNode> e : qdictEntries(node)) {
        sb.append(sep);
        newline(sb, depth + 1);
        quote(sb, e.getKey());
        sb.append(": ");
        write(sb, e.getValue(), depth + 1);
        sep = ",";
      }
      newline(sb, depth);
      sb.append('}');
    } else if (node.isArray()) {
      sb.append('[');
      String sep = "";
      for (JsonNode element : node) {
        sb.append(sep);
        newline(sb, depth + 1);
        write(sb, element, depth + 1);
        sep = ",";
      }
      newline(sb, depth);
      sb.append(']');
    } else if (node.isTextual()) {
      quote(sb, node.textValue());
    } else if (node.isBoolean()) {
      sb.append(node.booleanValue() ? "true" : "false");
    } else if (node.isIntegralNumber()) {
      sb.append(node.bigIntegerValue());
    } else if (node.isNull()) {
      sb.append("null");
    } else {
      throw new IllegalArgumentException("qemu prints no JSON of kind " + node.getNodeType());
    }
  }

  /** The entries of an object node in the order qemu's QDict iterates them. */
  public static List<Map.Entry<String, JsonNode>> qdictEntries(JsonNode object) {
    List<Map.Entry<String, JsonNode>> entries = new ArrayList<>(object.properties());
    // Newest first inside a bucket: reverse insertion order, then a stable sort by bucket.
    Collections.reverse(entries);
    entries.sort(Comparator.comparingInt(e -> bucket(e.getKey())));
    return entries;
  }

  private static void newline(StringBuilder sb, int depth) {
    sb.append('\n');
    sb.append(" ".repeat(depth * 4));
  }

  /** qemu's quoted_str: short escapes, and \\uXXXX (upper case) for controls and non-ASCII. */
  static void quote(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); ) {
      int cp = s.codePointAt(i);
      i += Character.charCount(cp);
      switch (cp) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\b' -> sb.append("\\b");
        case '\f' -> sb.append("\\f");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (cp > 0xffff) {
            hex4(sb, 0xd800 + ((cp - 0x10000) >> 10));
            hex4(sb, 0xdc00 + ((cp - 0x10000) & 0x3ff));
          } else if (cp < 0x20 || cp >= 0x7f) {
            hex4(sb, cp);
          } else {
            sb.append((char) cp);
          }
        }
      }
    }
    sb.append('"');
  }

  private static void hex4(StringBuilder sb, int unit) {
    sb.append(String.format(java.util.Locale.ROOT, "\\u%04X", unit));
  }
}
