package dev.qcow2.tools.repo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One image of {@code index.yaml}: the mapping stored under its sha256, keys in stored order,
 * unknown keys kept. Immutable: every accessor and {@link #with} works on copies.
 *
 * <p>Keys Cangallo writes, in its order: {@code parent}, {@code description}, {@code os}, {@code
 * cangafile} (built images), {@code virtual-size}, {@code format}, {@code actual-size}, {@code
 * format-specific}, {@code file-sha256}, {@code creation-time}, {@code sha256}.
 */
public final class ImageEntry {
  private static final Pattern STAMP =
      Pattern.compile(
          "([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
              + "(?:(?:[Tt]|[ \\t]+)([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\\.([0-9]*))?"
              + "(?:[ \\t]*(Z|([-+])([0-9]{1,2})(?::?([0-9]{2}))?))?)?");
  private static final DateTimeFormatter PSYCH =
      DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSSSSSSSS xxx", Locale.ROOT);

  private final ObjectNode node;

  private ImageEntry(ObjectNode node) {
    this.node = node;
  }

  /** An entry from its stored mapping (copied). */
  public static ImageEntry of(JsonNode mapping) {
    if (!mapping.isObject()) {
      throw new IllegalArgumentException(
          "an image entry must be a mapping, not " + mapping.getNodeType());
    }
    return new ImageEntry(((ObjectNode) mapping).deepCopy());
  }

  /** The stored mapping (a copy). */
  public ObjectNode node() {
    return node.deepCopy();
  }

  public String sha256() {
    return text("sha256");
  }

  public String parent() {
    return text("parent");
  }

  /** The description, or null when the key is absent or null. */
  public String description() {
    return text("description");
  }

  public String os() {
    return text("os");
  }

  public String format() {
    String f = text("format");
    return f == null ? "qcow2" : f;
  }

  /** Bytes the stored file takes on disk, 0 when unknown. */
  public long actualSize() {
    JsonNode n = node.get("actual-size");
    return n != null && n.isNumber() ? n.longValue() : 0;
  }

  public long virtualSize() {
    JsonNode n = node.get("virtual-size");
    return n != null && n.isNumber() ? n.longValue() : 0;
  }

  public String fileSha256() {
    return text("file-sha256");
  }

  /** The creation time, or null when absent or not a timestamp. */
  public OffsetDateTime creationTime() {
    String t = text("creation-time");
    return t == null ? null : parseTimestamp(t);
  }

  /**
   * A copy with {@code key} set ({@code null} value: a YAML null); an existing key keeps its place.
   */
  public ImageEntry with(String key, JsonNode value) {
    ObjectNode copy = node.deepCopy();
    copy.set(key, value == null ? JsonNodeFactory.instance.nullNode() : value);
    return new ImageEntry(copy);
  }

  public ImageEntry with(String key, String value) {
    return with(key, value == null ? null : JsonNodeFactory.instance.textNode(value));
  }

  public ImageEntry without(String key) {
    ObjectNode copy = node.deepCopy();
    copy.remove(key);
    return new ImageEntry(copy);
  }

  private String text(String key) {
    JsonNode n = node.get(key);
    return n == null || n.isNull() ? null : n.asText();
  }

  /** A time as Psych writes a Ruby {@code Time}: {@code 2016-05-10 16:30:31.551512000 +02:00}. */
  public static String formatTimestamp(OffsetDateTime time) {
    return PSYCH.format(time);
  }

  /**
   * Parses a YAML 1.1 timestamp as Psych reads one: date only (midnight UTC), or date and time with
   * optional fraction and zone ({@code Z}, {@code +02:00}, {@code +2}; none means UTC).
   *
   * @return the time, or null if {@code text} is no timestamp
   */
  public static OffsetDateTime parseTimestamp(String text) {
    Matcher m = STAMP.matcher(text.trim());
    if (!m.matches()) {
      return null;
    }
    LocalDate date =
        LocalDate.of(
            Integer.parseInt(m.group(1)),
            Integer.parseInt(m.group(2)),
            Integer.parseInt(m.group(3)));
    if (m.group(4) == null) {
      return date.atStartOfDay().atOffset(ZoneOffset.UTC);
    }
    String fraction = m.group(7) == null ? "" : m.group(7);
    int nanos = fraction.isEmpty() ? 0 : Integer.parseInt((fraction + "000000000").substring(0, 9));
    LocalDateTime local =
        date.atTime(
            Integer.parseInt(m.group(4)),
            Integer.parseInt(m.group(5)),
            Integer.parseInt(m.group(6)),
            nanos);
    ZoneOffset offset = ZoneOffset.UTC;
    if (m.group(9) != null) {
      int hours = Integer.parseInt(m.group(10));
      int minutes = m.group(11) == null ? 0 : Integer.parseInt(m.group(11));
      int sign = m.group(9).equals("-") ? -1 : 1;
      offset = ZoneOffset.ofHoursMinutes(sign * hours, sign * minutes);
    }
    return local.atOffset(offset);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ImageEntry e && e.node.equals(node);
  }

  @Override
  public int hashCode() {
    return node.hashCode();
  }

  @Override
  public String toString() {
    return node.toString();
  }
}
