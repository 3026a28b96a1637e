package dev.qcow2.tools.repo;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.MissingNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.math.BigDecimal;
import java.time.OffsetDateTime;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Map;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.events.AliasEvent;
import org.yaml.snakeyaml.events.CollectionEndEvent;
import org.yaml.snakeyaml.events.CollectionStartEvent;
import org.yaml.snakeyaml.events.DocumentEndEvent;
import org.yaml.snakeyaml.events.Event;
import org.yaml.snakeyaml.events.MappingStartEvent;
import org.yaml.snakeyaml.events.ScalarEvent;
import org.yaml.snakeyaml.parser.Parser;
import org.yaml.snakeyaml.parser.ParserImpl;
import org.yaml.snakeyaml.reader.StreamReader;

/**
 * YAML as Cangallo reads and writes it. Reading goes through Jackson (key order kept, plain scalars
 * typed as YAML 1.1 would type them, except timestamps which stay text). Writing is Ruby's Psych
 * ({@code to_yaml}) byte for byte, as the tests check against Ruby itself: a {@code ---} line,
 * two-space nested mappings, sequences at the indentation of their key, and each string as {@link
 * PsychScalar} writes it.
 *
 * <p>Plain timestamps read are {@link RubyTime}s, as are those made by {@link #time}: they are
 * written plain, so that Ruby loads them back as a {@code Time} (how {@code creation-time}
 * round-trips), while a string that only looks like one is quoted, as Psych quotes it.
 */
public final class PsychYaml {
  private static final YAMLMapper MAPPER = new YAMLMapper();

  private static final Pattern TIMESTAMP =
      Pattern.compile(
          "[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
              + "(?:(?:[Tt]|[ \\t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\\.[0-9]*)?"
              + "(?:[ \\t]*(?:Z|[-+][0-9]{1,2}(?::?[0-9]{2})?))?)?");

  private PsychYaml() {}

  /**
   * Parses one YAML document; an empty document gives a {@link MissingNode}.
   *
   * @throws JsonProcessingException with the line of the problem
   */
  public static JsonNode parse(String text) throws JsonProcessingException {
    JsonNode node = MAPPER.readTree(text);
    return node == null ? MissingNode.getInstance() : retype(text, node);
  }

  /**
   * Types the plain scalars of {@code root} as Psych loads them, where Jackson's YAML 1.1 reading
   * differs: each plain timestamp becomes a {@link RubyTime}, and what Psych reads as a string
   * ({@code 1e10}, {@code 0o17}) stays text. Jackson gives quoted and plain scalars alike, so the
   * document's events are read again for the style.
   */
  private static JsonNode retype(String text, JsonNode root) {
    Parser parser = new ParserImpl(new StreamReader(text), new LoaderOptions());
    Deque<Frame> open = new ArrayDeque<>();
    while (parser.peekEvent() != null) {
      Event e = parser.getEvent();
      Frame top = open.peek();
      if (e instanceof DocumentEndEvent) {
        break;
      } else if (e instanceof CollectionStartEvent) {
        open.push(new Frame(top == null ? root : top.child(), e instanceof MappingStartEvent));
      } else if (e instanceof CollectionEndEvent) {
        open.pop();
        if (open.peek() != null) {
          open.peek().advance();
        }
      } else if (e instanceof ScalarEvent s && top != null) {
        if (top.atKey()) {
          top.key = s.getValue();
        } else if (s.isPlain() && s.getTag() == null) {
          top.retype(s.getValue());
        }
        top.advance();
      } else if (e instanceof ScalarEvent s && s.isPlain() && isTimestamp(s.getValue())) {
        return new RubyTime(s.getValue());
      } else if (e instanceof AliasEvent && top != null) {
        top.advance();
      }
    }
    return root;
  }

  /** A mapping or sequence being read, with the node Jackson made of it (null if none). */
  private static final class Frame {
    final JsonNode node;
    final boolean mapping;
    String key;
    boolean keyNext = true;
    int index;

    Frame(JsonNode node, boolean mapping) {
      this.node = node;
      this.mapping = mapping;
    }

    boolean atKey() {
      return mapping && keyNext;
    }

    JsonNode child() {
      if (node == null || atKey()) {
        return null;
      }
      return mapping ? node.get(key) : node.get(index);
    }

    /** Retypes the current value, the plain scalar {@code text}, as Psych would load it. */
    void retype(String text) {
      JsonNode old = child();
      JsonNode value;
      if (old == null) {
        return;
      } else if (isTimestamp(text)) {
        value = new RubyTime(text);
      } else if (!old.isTextual() && PsychScalar.loadsAsString(text)) {
        value = TextNode.valueOf(text);
      } else {
        return;
      }
      if (node instanceof ObjectNode o) {
        o.set(key, value);
      } else if (node instanceof ArrayNode a) {
        a.set(index, value);
      }
    }

    void advance() {
      if (mapping) {
        keyNext = !keyNext;
      } else {
        index++;
      }
    }
  }

  /** The mapper used for reading, for callers that stream tokens to learn line numbers. */
  public static YAMLMapper mapper() {
    return MAPPER;
  }

  /** Whether {@code text} is a YAML 1.1 timestamp (Ruby loads it as a {@code Time}). */
  public static boolean isTimestamp(String text) {
    return TIMESTAMP.matcher(text).matches();
  }

  /** A timestamp Ruby loads as a {@code Time}, in Psych's format (written plain). */
  public static JsonNode time(OffsetDateTime time) {
    return new RubyTime(ImageEntry.formatTimestamp(time));
  }

  /** {@code node} as Psych's {@code to_yaml} writes it, ending with a newline. */
  public static String emit(JsonNode node) {
    StringBuilder sb = new StringBuilder("---");
    Boolean openEnded;
    if (node.isObject() && node.size() > 0) {
      sb.append('\n');
      openEnded = mapping(sb, node, 0);
    } else if (node.isArray() && node.size() > 0) {
      sb.append('\n');
      openEnded = sequence(sb, node, 0);
    } else {
      openEnded = inline(sb, node, 0);
      endLine(sb);
    }
    // libyaml closes a stream whose last block scalar keeps its final line breaks.
    return Boolean.TRUE.equals(openEnded) ? sb.append("...\n").toString() : sb.toString();
  }

  /**
   * Each writer returns whether its last block scalar was "|+" (libyaml's open_ended), or null if
   * it wrote none.
   */
  private static Boolean mapping(StringBuilder sb, JsonNode map, int indent) {
    boolean first = true;
    Boolean openEnded = null;
    for (Map.Entry<String, JsonNode> e : map.properties()) {
      if (!first) {
        sb.append(" ".repeat(indent));
      }
      first = false;
      new PsychScalar(sb).key(e.getKey());
      sb.append(':');
      openEnded = last(openEnded, value(sb, e.getValue(), indent, indent));
    }
    return openEnded;
  }

  /** Ends the line, unless a block scalar ended with a line break of its own. */
  private static void endLine(StringBuilder sb) {
    if (!PsychScalar.isBreak(sb.codePointBefore(sb.length()))) {
      sb.append('\n');
    }
  }

  /** The open_ended state after a node: what it wrote, else what came before. */
  private static Boolean last(Boolean before, Boolean node) {
    return node != null ? node : before;
  }

  /** Writes what follows "key:" or "-": the rest of the line and any nested block. */
  private static Boolean value(StringBuilder sb, JsonNode v, int indent, int sequenceIndent) {
    if (v.isObject() && v.size() > 0) {
      sb.append('\n').append(" ".repeat(indent + 2));
      return mapping(sb, v, indent + 2);
    } else if (v.isArray() && v.size() > 0) {
      sb.append('\n');
      return sequence(sb, v, sequenceIndent);
    }
    Boolean openEnded = inline(sb, v, indent);
    endLine(sb);
    return openEnded;
  }

  private static Boolean sequence(StringBuilder sb, JsonNode list, int indent) {
    Boolean openEnded = null;
    for (JsonNode item : list) {
      sb.append(" ".repeat(indent)).append('-');
      if (item.isObject() && item.size() > 0) {
        sb.append(' ');
        openEnded = last(openEnded, mapping(sb, item, indent + 2));
      } else if (item.isArray() && item.size() > 0) {
        sb.append(' ');
        // A nested sequence starts on the dash's line: "- - a".
        StringBuilder inner = new StringBuilder();
        openEnded = last(openEnded, sequence(inner, item, indent + 2));
        sb.append(inner.substring(indent + 2));
      } else {
        openEnded = last(openEnded, value(sb, item, indent, indent));
      }
    }
    return openEnded;
  }

  /**
   * A scalar or empty container after an indicator; block scalars continue below it. Returns
   * whether a block scalar kept its line breaks, or null if none was written.
   */
  private static Boolean inline(StringBuilder sb, JsonNode v, int indent) {
    if (v.isNull() || v.isMissingNode()) {
      // An empty plain scalar: libyaml writes no space after the indicator.
      return null;
    }
    sb.append(' ');
    if (v.isObject()) {
      sb.append("{}");
    } else if (v.isArray()) {
      sb.append("[]");
    } else if (v.isBoolean()) {
      sb.append(v.booleanValue());
    } else if (v.isIntegralNumber()) {
      sb.append(v.bigIntegerValue());
    } else if (v.isNumber()) {
      sb.append(rubyFloat(v.doubleValue()));
    } else if (v instanceof RubyTime) {
      sb.append(v.textValue());
    } else {
      sb.setLength(sb.length() - 1);
      PsychScalar scalar = new PsychScalar(sb);
      scalar.value(v.isTextual() ? v.textValue() : v.asText(), indent + 2);
      return scalar.openEnded() ? Boolean.TRUE : (scalar.wroteBlock() ? Boolean.FALSE : null);
    }
    return null;
  }

  /**
   * A string as a one-line YAML scalar after "key:", as Psych writes it where nothing follows and
   * nothing folds (the path of {@code config.yaml}).
   */
  static String scalar(String s) {
    StringBuilder sb = new StringBuilder();
    new PsychScalar(sb).key(s);
    return sb.toString();
  }

  /** Ruby's Float#to_s for ordinary magnitudes: "1.5", "76.0", "12345678.9". */
  static String rubyFloat(double d) {
    if (Double.isNaN(d)) {
      return ".nan";
    }
    if (Double.isInfinite(d)) {
      return d > 0 ? ".inf" : "-.inf";
    }
    if (d == 0) {
      return (1 / d < 0) ? "-0.0" : "0.0";
    }
    double abs = Math.abs(d);
    if (abs >= 1e16 || abs < 1e-4) {
      // Ruby switches to exponent form here: "1.0e+16".
      String t = Double.toString(d).replace("E", "e");
      int e = t.indexOf('e');
      String exp = t.substring(e + 1);
      return t.substring(0, e)
          + "e"
          + (exp.startsWith("-") ? "-" : "+")
          + String.format("%02d", Math.abs(Integer.parseInt(exp)));
    }
    String plain = new BigDecimal(Double.toString(d)).toPlainString();
    return plain.contains(".") ? plain : plain + ".0";
  }
}
