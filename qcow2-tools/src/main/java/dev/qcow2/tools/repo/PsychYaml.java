package dev.qcow2.tools.repo;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.MissingNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.math.BigDecimal;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * YAML as Cangallo reads and writes it. Reading goes through Jackson (key order kept, plain scalars
 * typed as YAML 1.1 would type them, except timestamps which stay text). Writing imitates Ruby's
 * Psych ({@code to_yaml}): a {@code ---} line, two-space nested mappings, sequences at the
 * indentation of their key, strings quoted only when Ruby would read them as something else, and
 * multi-line strings as literal blocks.
 *
 * <p>A string that reads as a YAML timestamp is written plain, so that Ruby loads it back as a
 * {@code Time}: that is how {@code creation-time} round-trips. (Jackson cannot tell a quoted
 * timestamp-looking string from a real timestamp; in Cangallo's indexes only real ones occur.)
 */
public final class PsychYaml {
  private static final YAMLMapper MAPPER = new YAMLMapper();

  private static final Pattern TIMESTAMP =
      Pattern.compile(
          "[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
              + "(?:(?:[Tt]|[ \\t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\\.[0-9]*)?"
              + "(?:[ \\t]*(?:Z|[-+][0-9]{1,2}(?::?[0-9]{2})?))?)?");
  private static final Pattern SPECIAL =
      Pattern.compile(
          "~|null|Null|NULL|yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE"
              + "|on|On|ON|off|Off|OFF|=|<<|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN)");

  /**
   * YAML 1.1 integers and floats (SnakeYAML's and Psych's resolvers, merged: quoting more is safe).
   */
  private static final Pattern NUMBER =
      Pattern.compile(
          "[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_,]*)|[-+]?0x[0-9a-fA-F_]+"
              + "|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+"
              + "|[-+]?(?:\\.[0-9]+|[0-9][0-9_,]*(?:\\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
              + "|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.[0-9_]*");

  private static final String INDICATORS = "-?:,[]{}#&*!|>'\"%@`";

  private PsychYaml() {}

  /**
   * Parses one YAML document; an empty document gives a {@link MissingNode}.
   *
   * @throws JsonProcessingException with the line of the problem
   */
  public static JsonNode parse(String text) throws JsonProcessingException {
    JsonNode node = MAPPER.readTree(text);
    return node == null ? MissingNode.getInstance() : node;
  }

  /** The mapper used for reading, for callers that stream tokens to learn line numbers. */
  public static YAMLMapper mapper() {
    return MAPPER;
  }

  /** Whether {@code text} is a YAML 1.1 timestamp (Ruby loads it as a {@code Time}). */
  public static boolean isTimestamp(String text) {
    return TIMESTAMP.matcher(text).matches();
  }

  /** {@code node} as Psych's {@code to_yaml} writes it, ending with a newline. */
  public static String emit(JsonNode node) {
    StringBuilder sb = new StringBuilder("---");
    if (node.isObject() && node.size() > 0) {
      sb.append('\n');
      mapping(sb, node, 0);
    } else if (node.isArray() && node.size() > 0) {
      sb.append('\n');
      sequence(sb, node, 0);
    } else {
      sb.append(' ');
      inline(sb, node, 0);
      sb.append('\n');
    }
    return sb.toString();
  }

  private static void mapping(StringBuilder sb, JsonNode map, int indent) {
    boolean first = true;
    for (Map.Entry<String, JsonNode> e : map.properties()) {
      if (!first) {
        sb.append(" ".repeat(indent));
      }
      first = false;
      sb.append(scalar(e.getKey())).append(':');
      value(sb, e.getValue(), indent, indent);
    }
  }

  /** Writes what follows "key:" or "-": the rest of the line and any nested block. */
  private static void value(StringBuilder sb, JsonNode v, int indent, int sequenceIndent) {
    if (v.isObject() && v.size() > 0) {
      sb.append('\n').append(" ".repeat(indent + 2));
      mapping(sb, v, indent + 2);
    } else if (v.isArray() && v.size() > 0) {
      sb.append('\n');
      sequence(sb, v, sequenceIndent);
    } else if (v.isNull() || v.isMissingNode()) {
      sb.append('\n');
    } else {
      sb.append(' ');
      inline(sb, v, indent);
      sb.append('\n');
    }
  }

  private static void sequence(StringBuilder sb, JsonNode list, int indent) {
    for (JsonNode item : list) {
      sb.append(" ".repeat(indent)).append('-');
      if (item.isObject() && item.size() > 0) {
        sb.append(' ');
        mapping(sb, item, indent + 2);
      } else if (item.isArray() && item.size() > 0) {
        sb.append(' ');
        // A nested sequence starts on the dash's line: "- - a".
        StringBuilder inner = new StringBuilder();
        sequence(inner, item, indent + 2);
        sb.append(inner.substring(indent + 2));
      } else {
        value(sb, item, indent, indent);
      }
    }
  }

  /** A scalar or empty container on the current line; literal blocks continue below it. */
  private static void inline(StringBuilder sb, JsonNode v, int indent) {
    if (v.isObject()) {
      sb.append("{}");
    } else if (v.isArray()) {
      sb.append("[]");
    } else if (v.isNull() || v.isMissingNode()) {
      sb.append("");
    } else if (v.isBoolean()) {
      sb.append(v.booleanValue());
    } else if (v.isIntegralNumber()) {
      sb.append(v.bigIntegerValue());
    } else if (v.isNumber()) {
      sb.append(rubyFloat(v.doubleValue()));
    } else if (v.isTextual()) {
      String s = v.textValue();
      if (s.indexOf('\n') >= 0 && literalOk(s)) {
        literal(sb, s, indent + 2);
      } else {
        sb.append(scalar(s));
      }
    } else {
      sb.append(scalar(v.asText()));
    }
  }

  private static boolean literalOk(String s) {
    if (s.startsWith(" ") || s.startsWith("\n")) {
      return false;
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x20 && c != '\n' && c != '\t') {
        return false;
      }
    }
    for (String line : s.split("\n", -1)) {
      if (line.endsWith(" ")) {
        return false;
      }
    }
    return true;
  }

  private static void literal(StringBuilder sb, String s, int indent) {
    boolean trailingNewline = s.endsWith("\n");
    String body = trailingNewline ? s.substring(0, s.length() - 1) : s;
    if (body.endsWith("\n")) {
      sb.append("|+");
    } else {
      sb.append(trailingNewline ? "|" : "|-");
    }
    for (String line : body.split("\n", -1)) {
      sb.append('\n');
      if (!line.isEmpty()) {
        sb.append(" ".repeat(indent)).append(line);
      }
    }
  }

  /**
   * A string as a one-line YAML scalar, following Psych's choices: double quotes for control
   * characters, for {@code y}/{@code n}, and for strings starting with a non-word character and
   * holding no {@code "} (hence {@code "/ctx/sub"}); single quotes for what would read as another
   * type or break the syntax; plain otherwise.
   */
  static String scalar(String s) {
    if (needsDoubleQuotes(s) || s.equals("y") || s.equals("Y") || s.equals("n") || s.equals("N")) {
      return doubleQuoted(s);
    }
    if (s.isEmpty()) {
      return "''";
    }
    if (isTimestamp(s)) {
      return s;
    }
    int first = s.codePointAt(0);
    if (!(Character.isLetterOrDigit(first) || first == '_') && s.indexOf('"') < 0) {
      return doubleQuoted(s);
    }
    if (SPECIAL.matcher(s).matches()
        || NUMBER.matcher(s).matches()
        || INDICATORS.indexOf(s.charAt(0)) >= 0
        || Character.isWhitespace(s.charAt(s.length() - 1))
        || s.contains(": ")
        || s.contains(" #")
        || s.endsWith(":")) {
      return "'" + s.replace("'", "''") + "'";
    }
    return s;
  }

  private static boolean needsDoubleQuotes(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x20 || c == 0x7f || c == '\u0085' || c == '\u2028' || c == '\u2029') {
        return true;
      }
    }
    return false;
  }

  private static String doubleQuoted(String s) {
    StringBuilder sb = new StringBuilder("\"");
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\t' -> sb.append("\\t");
        case '\r' -> sb.append("\\r");
        case '\0' -> sb.append("\\0");
        case '\u0085' -> sb.append("\\N");
        case '\u2028' -> sb.append("\\L");
        case '\u2029' -> sb.append("\\P");
        default -> {
          if (c < 0x20 || c == 0x7f) {
            sb.append(String.format("\\x%02X", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    return sb.append('"').toString();
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
