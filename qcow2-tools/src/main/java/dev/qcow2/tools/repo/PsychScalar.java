package dev.qcow2.tools.repo;

import java.time.DateTimeException;
import java.time.LocalDate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One string as Ruby's {@code to_yaml} writes it, in two steps as there: Psych picks a style
 * ({@code YAMLTree#visit_String}, with {@code ScalarScanner#tokenize} saying which strings would
 * load back as something else), then libyaml's emitter (0.2.5) overrules it where the text does not
 * allow it ({@code yaml_emitter_analyze_scalar}, {@code select_scalar_style}) and writes it,
 * folding plain and quoted text at spaces past column 80 ({@code best_width}) and continuing at the
 * node's indentation.
 *
 * <p>Columns count characters (code points), as libyaml's do. Not covered: a key over 128 bytes or
 * over several lines, which libyaml writes as a complex key ({@code ? key}); we write it as a
 * simple one (on one line, breaks escaped), which Ruby reads the same up to 1024 characters.
 * Cangallo's keys (hashes, tags, field names) are short.
 */
final class PsychScalar {
  private static final int BEST_WIDTH = 80;

  private enum Style {
    PLAIN,
    SINGLE_QUOTED,
    DOUBLE_QUOTED,
    LITERAL
  }

  // Ruby's ^ and $ are line anchors; UNIX_LINES makes \n the only line end, as in Ruby.
  private static final int RUBY = Pattern.MULTILINE | Pattern.UNIX_LINES;
  private static final Pattern INNER_BREAK = Pattern.compile("\n(?!\\z|\n\\z)");
  private static final Pattern NON_WORD_NO_QUOTE =
      Pattern.compile("^[^\\w][^\"]*$", RUBY | Pattern.UNICODE_CHARACTER_CLASS);
  private static final Pattern OCTAL_LOOKING = Pattern.compile("\\A0[0-7]*[89]");
  private static final Pattern WORDISH =
      Pattern.compile(
          "^[^\\d.:-]?[\\p{IsAlphabetic}_\\s!@#$%\\^&*(){}<>|/\\\\~;=]+",
          RUBY | Pattern.UNICODE_CHARACTER_CLASS);
  private static final Pattern NOT_YTONF =
      Pattern.compile("^[^ytonf~]", RUBY | Pattern.CASE_INSENSITIVE);
  private static final Pattern BOOL_OR_NULL =
      Pattern.compile("^(?:yes|true|on|no|false|off|null)$", RUBY | Pattern.CASE_INSENSITIVE);
  private static final Pattern TIME =
      Pattern.compile(
          "^-?\\d{4}-(\\d{1,2})-\\d{1,2}(?:[Tt]|\\s+)\\d{1,2}:\\d\\d:\\d\\d(?:\\.\\d*)?"
              + "(?:\\s*(?:Z|[-+]\\d{1,2}:?(?:\\d\\d)?))?$",
          RUBY);
  private static final Pattern DATE =
      Pattern.compile("^(\\d{4})-(1[012]|0\\d|\\d)-([12]\\d|3[01]|0\\d|\\d)$", RUBY);
  private static final Pattern INF_NAN =
      Pattern.compile("^\\+?\\.inf$|^-\\.inf$|^\\.nan$", RUBY | Pattern.CASE_INSENSITIVE);
  private static final Pattern OTHER_TYPES =
      Pattern.compile(
          String.join(
              "|",
              "^:.",
              "^[-+]?[0-9][0-9_]*(:[0-5]?[0-9]){1,2}$",
              "^[-+]?[0-9][0-9_]*(:[0-5]?[0-9]){1,2}\\.[0-9_]*$",
              "^(?:[-+]?([0-9][0-9_,]*)?\\.[0-9]*([eE][-+][0-9]+)?)$",
              "^(?:[-+]?0b[0-1_,]+|[-+]?0[0-7_,]+|[-+]?(?:0|[1-9](?:[0-9]|,[0-9]|_[0-9])*)"
                  + "|[-+]?0x[0-9a-fA-F_,]+)$"),
          RUBY);
  private static final Pattern LONE_DOT = Pattern.compile("\\A[-+]?\\.\\z");

  private final StringBuilder out;
  private int column;
  private boolean openEnded;
  private boolean wroteBlock;

  PsychScalar(StringBuilder out) {
    this.out = out;
    int lineStart = out.lastIndexOf("\n") + 1;
    this.column = out.codePointCount(lineStart, out.length());
  }

  /**
   * Whether the last block scalar written keeps its trailing line breaks ({@code |+}): libyaml then
   * ends the stream with "...".
   */
  boolean openEnded() {
    return openEnded;
  }

  /** Whether the scalar written was a block scalar ("|"). */
  boolean wroteBlock() {
    return wroteBlock;
  }

  /** Appends raw text that holds no line break (indentation, indicators). */
  PsychScalar raw(String text) {
    out.append(text);
    column += text.codePointCount(0, text.length());
    return this;
  }

  /** Appends a line break. */
  PsychScalar newline() {
    out.append('\n');
    column = 0;
    return this;
  }

  /**
   * Writes {@code s} after an indicator ("key:" or "-"), its continuation lines at {@code indent}.
   */
  void value(String s, int indent) {
    write(s, indent, false);
  }

  /** Writes {@code s} as a mapping key (libyaml's simple key: one line, never folded). */
  void key(String s) {
    write(s, 0, true);
  }

  private void write(String s, int indent, boolean simpleKey) {
    if (s.equals("<<")) {
      // Psych tags the merge key's text so that it loads as a string.
      raw(simpleKey ? "" : " ").raw("!!str '<<'");
      return;
    }
    Analysis a = Analysis.of(s);
    Style style = psychStyle(s);
    if (simpleKey && a.multiline) {
      style = Style.DOUBLE_QUOTED;
    }
    if (style == Style.PLAIN && (!a.blockPlain || (s.isEmpty() && simpleKey))) {
      style = Style.SINGLE_QUOTED;
    }
    if (style == Style.SINGLE_QUOTED && !a.singleQuoted) {
      style = Style.DOUBLE_QUOTED;
    }
    if (style == Style.LITERAL && (!a.block || simpleKey)) {
      style = Style.DOUBLE_QUOTED;
    }
    boolean breaks = !simpleKey;
    // After "key:" or "-" libyaml puts a space; a key starts where the indentation left it.
    String space = simpleKey ? "" : " ";
    switch (style) {
      case PLAIN -> {
        if (!s.isEmpty()) {
          raw(space);
        }
        plain(s, indent, breaks);
      }
      case SINGLE_QUOTED -> singleQuoted(space, s, indent, breaks);
      case DOUBLE_QUOTED -> doubleQuoted(space, s, indent, breaks);
      case LITERAL -> literal(space, s, indent);
    }
  }

  /** Psych's choice ({@code visit_String}), before libyaml has its say. */
  private static Style psychStyle(String s) {
    if (INNER_BREAK.matcher(s).find()) {
      return Style.LITERAL;
    }
    if (s.equals("y") || s.equals("n")) {
      return Style.DOUBLE_QUOTED;
    }
    if (NON_WORD_NO_QUOTE.matcher(s).find()) {
      return Style.DOUBLE_QUOTED;
    }
    if (!loadsAsString(s) || OCTAL_LOOKING.matcher(s).find()) {
      return Style.SINGLE_QUOTED;
    }
    return Style.PLAIN;
  }

  /** Whether Psych's {@code ScalarScanner#tokenize} gives {@code s} back as a String. */
  static boolean loadsAsString(String s) {
    if (s.isEmpty()) {
      return false;
    }
    if (WORDISH.matcher(s).find() || s.indexOf('\n') >= 0) {
      return s.codePointCount(0, s.length()) > 5
          || NOT_YTONF.matcher(s).find()
          || !(s.equals("~") || BOOL_OR_NULL.matcher(s).find());
    }
    Matcher time = TIME.matcher(s);
    if (time.find()) {
      // Time.utc refuses a month past 12 (ArgumentError, and the text stays a String).
      int month = Integer.parseInt(time.group(1));
      return month < 1 || month > 12;
    }
    Matcher date = DATE.matcher(s);
    if (date.find()) {
      try {
        LocalDate.of(
            Integer.parseInt(date.group(1)),
            Integer.parseInt(date.group(2)),
            Integer.parseInt(date.group(3)));
        return false;
      } catch (DateTimeException e) {
        return true;
      }
    }
    if (INF_NAN.matcher(s).find()) {
      return false;
    }
    return !OTHER_TYPES.matcher(s).find() || LONE_DOT.matcher(s).find();
  }

  private void plain(String s, int indent, boolean allowBreaks) {
    boolean spaces = false;
    for (int i = 0; i < s.length(); ) {
      int c = s.codePointAt(i);
      int next = i + Character.charCount(c);
      if (c == ' ') {
        space(allowBreaks && !spaces && !spaceAt(s, next), indent);
      } else {
        put(c);
      }
      spaces = c == ' ';
      i = next;
    }
  }

  private void singleQuoted(String space, String s, int indent, boolean allowBreaks) {
    raw(space).raw("'");
    boolean spaces = false;
    boolean breaks = false;
    for (int i = 0; i < s.length(); ) {
      int c = s.codePointAt(i);
      int next = i + Character.charCount(c);
      if (c == ' ') {
        boolean inside = i != 0 && next != s.length();
        space(allowBreaks && !spaces && inside && !spaceAt(s, next), indent);
        spaces = true;
      } else if (isBreak(c)) {
        if (!breaks && c == '\n') {
          newline();
        }
        writeBreak(c);
        breaks = true;
      } else {
        if (breaks) {
          pad(indent);
        }
        if (c == '\'') {
          put('\'');
        }
        put(c);
        spaces = false;
        breaks = false;
      }
      i = next;
    }
    if (breaks) {
      pad(indent);
    }
    raw("'");
  }

  private void doubleQuoted(String space, String s, int indent, boolean allowBreaks) {
    raw(space).raw("\"");
    boolean spaces = false;
    for (int i = 0; i < s.length(); ) {
      int c = s.codePointAt(i);
      int next = i + Character.charCount(c);
      if (!isPrintable(c) || c == 0xFEFF || isBreak(c) || c == '"' || c == '\\') {
        raw(escape(c));
        spaces = false;
      } else if (c == ' ') {
        boolean inside = i != 0 && next != s.length();
        if (space(allowBreaks && !spaces && inside, indent) && spaceAt(s, next)) {
          // The break folds away; a space after it is kept by escaping it.
          raw("\\");
        }
        spaces = true;
      } else {
        put(c);
        spaces = false;
      }
      i = next;
    }
    raw("\"");
  }

  private static String escape(int c) {
    return switch (c) {
      case 0x00 -> "\\0";
      case 0x07 -> "\\a";
      case 0x08 -> "\\b";
      case 0x09 -> "\\t";
      case 0x0A -> "\\n";
      case 0x0B -> "\\v";
      case 0x0C -> "\\f";
      case 0x0D -> "\\r";
      case 0x1B -> "\\e";
      case 0x22 -> "\\\"";
      case 0x5C -> "\\\\";
      case 0x85 -> "\\N";
      case 0xA0 -> "\\_";
      case 0x2028 -> "\\L";
      case 0x2029 -> "\\P";
      default -> {
        if (c <= 0xFF) {
          yield String.format("\\x%02X", c);
        }
        yield c <= 0xFFFF ? String.format("\\u%04X", c) : String.format("\\U%08X", c);
      }
    };
  }

  private void literal(String space, String s, int indent) {
    raw(space).raw("|");
    int first = s.codePointAt(0);
    if (first == ' ' || isBreak(first)) {
      raw("2");
    }
    wroteBlock = true;
    openEnded = false;
    int last = s.codePointBefore(s.length());
    if (!isBreak(last)) {
      raw("-");
    } else {
      int before = s.length() - Character.charCount(last);
      if (before == 0 || isBreak(s.codePointBefore(before))) {
        raw("+");
        openEnded = true;
      }
    }
    newline();
    boolean breaks = true;
    for (int i = 0; i < s.length(); ) {
      int c = s.codePointAt(i);
      if (isBreak(c)) {
        writeBreak(c);
        breaks = true;
      } else {
        if (breaks) {
          pad(indent);
        }
        put(c);
        breaks = false;
      }
      i += Character.charCount(c);
    }
  }

  /**
   * A space, or a line break in its place where {@code mayFold} and the line is past column 80
   * (libyaml's best_width). Returns whether it broke the line.
   */
  private boolean space(boolean mayFold, int indent) {
    if (mayFold && column > BEST_WIDTH) {
      indent(indent);
      return true;
    }
    put(' ');
    return false;
  }

  /** libyaml's write_indent inside a scalar: a new line when past the indentation, then spaces. */
  private void indent(int indent) {
    if (column > indent) {
      newline();
    }
    pad(indent);
  }

  private void pad(int indent) {
    while (column < indent) {
      put(' ');
    }
  }

  private void put(int c) {
    out.appendCodePoint(c);
    column++;
  }

  /** A line break as libyaml copies it: \n as the emitter's break, the others as they are. */
  private void writeBreak(int c) {
    out.appendCodePoint(c);
    column = 0;
  }

  private static boolean spaceAt(String s, int i) {
    return i < s.length() && s.charAt(i) == ' ';
  }

  static boolean isBreak(int c) {
    return c == '\r' || c == '\n' || c == 0x85 || c == 0x2028 || c == 0x2029;
  }

  /** libyaml's IS_PRINTABLE: it takes no character outside the Basic Multilingual Plane. */
  static boolean isPrintable(int c) {
    return c == 0x0A
        || (c >= 0x20 && c <= 0x7E)
        || (c >= 0xA0 && c <= 0xD7FF)
        || (c >= 0xE000 && c <= 0xFFFD && c != 0xFEFF);
  }

  /** What libyaml's {@code yaml_emitter_analyze_scalar} allows, for block context. */
  private record Analysis(
      boolean multiline, boolean blockPlain, boolean singleQuoted, boolean block) {
    static Analysis of(String s) {
      if (s.isEmpty()) {
        return new Analysis(false, true, true, false);
      }
      boolean blockIndicators = s.startsWith("---") || s.startsWith("...");
      boolean lineBreaks = false;
      boolean special = false;
      boolean leadingSpace = false;
      boolean leadingBreak = false;
      boolean trailingSpace = false;
      boolean trailingBreak = false;
      boolean breakSpace = false;
      boolean spaceBreak = false;
      boolean precededByWhitespace = true;
      boolean previousSpace = false;
      boolean previousBreak = false;
      for (int i = 0; i < s.length(); ) {
        int c = s.codePointAt(i);
        int next = i + Character.charCount(c);
        // Past the end libyaml reads Ruby's terminating NUL, which counts as whitespace.
        boolean followedByWhitespace = next >= s.length() || isBlankOrBreak(s.codePointAt(next));
        if (i == 0) {
          if ("#,[]{}&*!|>'\"%@`".indexOf(c) >= 0) {
            blockIndicators = true;
          }
          if ((c == '?' || c == ':' || c == '-') && followedByWhitespace) {
            blockIndicators = true;
          }
        } else if ((c == ':' && followedByWhitespace) || (c == '#' && precededByWhitespace)) {
          blockIndicators = true;
        }
        if (!isPrintable(c)) {
          special = true;
        }
        if (isBreak(c)) {
          lineBreaks = true;
        }
        boolean last = next >= s.length();
        if (c == ' ') {
          leadingSpace |= i == 0;
          trailingSpace |= last;
          breakSpace |= previousBreak;
          previousSpace = true;
          previousBreak = false;
        } else if (isBreak(c)) {
          leadingBreak |= i == 0;
          trailingBreak |= last;
          spaceBreak |= previousSpace;
          previousSpace = false;
          previousBreak = true;
        } else {
          previousSpace = false;
          previousBreak = false;
        }
        precededByWhitespace = isBlankOrBreak(c);
        i = next;
      }
      boolean blockPlain =
          !(leadingSpace
              || leadingBreak
              || trailingSpace
              || trailingBreak
              || breakSpace
              || spaceBreak
              || special
              || lineBreaks
              || blockIndicators);
      boolean singleQuoted = !(breakSpace || spaceBreak || special);
      boolean block = !(trailingSpace || spaceBreak || special);
      return new Analysis(lineBreaks, blockPlain, singleQuoted, block);
    }

    private static boolean isBlankOrBreak(int c) {
      return c == ' ' || c == '\t' || c == 0 || isBreak(c);
    }
  }
}
