package dev.qcow2.tools.cangafile;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import dev.qcow2.tools.repo.PsychYaml;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A parsed and validated Cangafile: the YAML build description of a derived image.
 *
 * <pre>
 * parent: centos7            # required: the image to build on (any IMAGE name)
 * description: ...           # optional, copied to the index and shown by list
 * os: CentOS 7               # optional, copied to the index
 * tag: centos7/example       # optional tag of the result
 * tasks:                     # a list of one-key mappings, applied in order
 *   - copy: "SRC DST"
 *   - run: [commands]        # or one string, a command per line
 *   - change: {file, regexp, text}
 *   - delete: PATH
 *   - password: {user, password} or {user, disabled: true}
 * </pre>
 *
 * The pre-2016 top-level keys {@code files:} (a list of "SRC DST") and {@code run:} (commands) are
 * accepted too, rendered before {@code tasks}. Every error is found by {@link #parse}, before
 * anything is built, and names the file and line.
 */
public final class Cangafile {
  private final String name;
  private final ObjectNode data;
  private final List<Task> tasks;

  private Cangafile(String name, ObjectNode data, List<Task> tasks) {
    this.name = name;
    this.data = data;
    this.tasks = List.copyOf(tasks);
  }

  public static Cangafile read(Path file) throws IOException {
    return parse(file.toString(), Files.readString(file, StandardCharsets.UTF_8));
  }

  /** Parses and validates {@code text}; {@code name} prefixes every error message. */
  public static Cangafile parse(String name, String text) {
    JsonNode root;
    Lines lines;
    try {
      root = PsychYaml.parse(text);
      lines = Lines.of(text);
    } catch (JsonProcessingException e) {
      int line = e.getLocation() == null ? 0 : e.getLocation().getLineNr();
      throw new CangafileException(where(name, line) + "not valid YAML: " + e.getOriginalMessage());
    } catch (IOException e) {
      throw new CangafileException(name + ": " + e.getMessage());
    }
    if (!root.isObject()) {
      throw new CangafileException(where(name, 1) + "a Cangafile is a YAML mapping");
    }
    ObjectNode data = (ObjectNode) root;
    List<Task> tasks = new ArrayList<>();
    Parser p = new Parser(name, lines);
    JsonNode files = data.get("files");
    if (files != null) {
      p.oldFiles(files, tasks);
    }
    JsonNode run = data.get("run");
    if (run != null) {
      tasks.add(p.run(run, lines.key("run")));
    }
    JsonNode taskNode = data.get("tasks");
    if (taskNode == null && files == null && run == null
        || taskNode != null && !taskNode.isArray()) {
      throw new CangafileException(
          where(name, lines.key("tasks")) + "No tasks defined or it's not an array");
    }
    if (taskNode != null) {
      for (int i = 0; i < taskNode.size(); i++) {
        tasks.add(p.task(taskNode.get(i), lines.task(i)));
      }
    }
    JsonNode parent = data.get("parent");
    if (parent == null || parent.isNull()) {
      throw new CangafileException(name + ": no parent image (the key 'parent' is missing)");
    }
    if (!parent.isValueNode() || parent.asText().isEmpty()) {
      throw new CangafileException(
          where(name, lines.key("parent")) + "parent must be an image name");
    }
    for (String key : List.of("description", "os", "tag")) {
      JsonNode v = data.get(key);
      if (v != null && !v.isNull() && !v.isValueNode()) {
        throw new CangafileException(where(name, lines.key(key)) + key + " must be a string");
      }
    }
    return new Cangafile(name, data.deepCopy(), tasks);
  }

  static String where(String name, int line) {
    return line > 0 ? name + ":" + line + ": " : name + ": ";
  }

  public String name() {
    return name;
  }

  public String parent() {
    return data.get("parent").asText();
  }

  public String description() {
    return text("description");
  }

  public String os() {
    return text("os");
  }

  public String tag() {
    return text("tag");
  }

  public List<Task> tasks() {
    return tasks;
  }

  private String text(String key) {
    JsonNode v = data.get(key);
    return v == null || v.isNull() ? null : v.asText();
  }

  /** The command-file lines of every task, in order (what build prints and virt-customize runs). */
  public List<String> commandLines() {
    List<String> lines = new ArrayList<>();
    for (Task t : tasks) {
      lines.addAll(t.lines());
    }
    return lines;
  }

  public List<Task.Password> passwords() {
    return tasks.stream()
        .filter(t -> t instanceof Task.Password)
        .map(t -> (Task.Password) t)
        .toList();
  }

  /**
   * What the index stores under {@code cangafile}: the whole mapping without {@code description}
   * and {@code os} (as Cangallo), and with every password replaced by {@code [redacted]}, since an
   * index is meant to be shared.
   */
  public ObjectNode indexData() {
    ObjectNode copy = data.deepCopy();
    copy.remove("description");
    copy.remove("os");
    JsonNode taskNode = copy.get("tasks");
    if (taskNode != null && taskNode.isArray()) {
      for (JsonNode t : taskNode) {
        JsonNode pw = t.get("password");
        if (pw != null && pw.isObject() && pw.has("password")) {
          ((ObjectNode) pw).set("password", TextNode.valueOf("[redacted]"));
        }
      }
    }
    return copy;
  }

  /** Validates and converts each task. */
  private record Parser(String name, Lines lines) {
    Task task(JsonNode t, int line) {
      if (!t.isObject() || t.size() == 0) {
        throw error(line, "Task \"" + inspect(t) + "\" malformed");
      }
      if (t.size() > 1) {
        List<String> keys = new ArrayList<>();
        t.fieldNames().forEachRemaining(keys::add);
        throw error(line, "Task with several actions " + keys + "; write one action per list item");
      }
      String action = t.fieldNames().next();
      JsonNode v = t.get(action);
      return switch (action) {
        case "copy" -> copy(string(action, v, line), line);
        case "run" -> run(v, line);
        case "change" -> change(hash(action, v, line), line);
        case "delete" -> new Task.Delete(string(action, v, line));
        case "password" -> password(hash(action, v, line), line);
        default -> throw error(line, "Invalid action \"" + action + "\"");
      };
    }

    void oldFiles(JsonNode files, List<Task> tasks) {
      int line = lines.key("files");
      if (!files.isArray()) {
        throw error(line, "files must be a list of \"SOURCE DESTINATION\"");
      }
      for (JsonNode f : files) {
        if (!f.isTextual()) {
          throw error(line, "files must be a list of \"SOURCE DESTINATION\"");
        }
        tasks.add(copy(f.asText(), line));
      }
    }

    Task.Copy copy(String spec, int line) {
      String[] parts = spec.trim().split("\\s+");
      if (parts.length != 2 || parts[0].isEmpty()) {
        throw error(line, "Action \"copy\" needs \"SOURCE DESTINATION\", not \"" + spec + "\"");
      }
      return new Task.Copy(parts[0], parts[1]);
    }

    Task.Run run(JsonNode v, int line) {
      List<String> commands = new ArrayList<>();
      if (v.isTextual()) {
        commands.addAll(nonEmptyLines(v.asText()));
      } else if (v.isArray()) {
        for (JsonNode c : v) {
          if (!c.isValueNode() || c.isNull()) {
            throw error(
                line, "Action parameters for \"run\" must be \"[Array, String]\" of strings");
          }
          commands.addAll(nonEmptyLines(c.asText()));
        }
      } else {
        throw error(line, "Action parameters for \"run\" must be \"[Array, String]\"");
      }
      return new Task.Run(commands);
    }

    Task.Change change(JsonNode v, int line) {
      String file = field(v, "file");
      String regexp = field(v, "regexp");
      String text = field(v, "text");
      if (file == null || regexp == null || text == null) {
        throw error(line, "Action \"change\" needs \"file\", \"regexp\" and \"text\"");
      }
      return new Task.Change(file, regexp, text);
    }

    Task.Password password(JsonNode v, int line) {
      String user = field(v, "user");
      if (user == null || user.isEmpty()) {
        throw error(line, "Action \"password\" needs \"user\"");
      }
      JsonNode disabled = v.get("disabled");
      if (disabled != null && disabled.asBoolean(!disabled.isNull())) {
        return new Task.Password(user, null);
      }
      String password = field(v, "password");
      if (password == null) {
        throw error(line, "Action \"password\" needs \"password\" or \"disabled\"");
      }
      return new Task.Password(user, password);
    }

    private String string(String action, JsonNode v, int line) {
      if (!v.isTextual()) {
        throw error(line, "Action parameters for \"" + action + "\" must be \"[String]\"");
      }
      return v.asText();
    }

    private JsonNode hash(String action, JsonNode v, int line) {
      if (!v.isObject()) {
        throw error(line, "Action parameters for \"" + action + "\" must be \"[Hash]\"");
      }
      return v;
    }

    private static String field(JsonNode v, String key) {
      JsonNode f = v.get(key);
      return f == null || f.isNull() || !f.isValueNode() ? null : f.asText();
    }

    private CangafileException error(int line, String message) {
      return new CangafileException(where(name, line) + message);
    }

    private static List<String> nonEmptyLines(String text) {
      return text.lines().filter(l -> !l.isEmpty()).toList();
    }

    private static String inspect(JsonNode t) {
      return t.isTextual() ? t.asText() : t.toString();
    }
  }

  /** Line numbers of top-level keys and of the items of {@code tasks}, from a token pass. */
  private record Lines(Map<String, Integer> keys, List<Integer> tasks) {
    static Lines of(String text) throws IOException {
      Map<String, Integer> keys = new HashMap<>();
      List<Integer> tasks = new ArrayList<>();
      try (JsonParser p = PsychYaml.mapper().getFactory().createParser(text)) {
        JsonToken t;
        while ((t = p.nextToken()) != null) {
          int line = p.currentTokenLocation().getLineNr();
          JsonStreamContext ctx = p.getParsingContext();
          if (t == JsonToken.FIELD_NAME && ctx.getParent() != null && ctx.getParent().inRoot()) {
            keys.putIfAbsent(p.currentName(), line);
            continue;
          }
          JsonStreamContext holder = t.isStructStart() ? ctx.getParent() : ctx;
          if (t.isStructEnd() || holder == null || !holder.inArray()) {
            continue;
          }
          JsonStreamContext owner = holder.getParent();
          if (owner != null
              && owner.inObject()
              && owner.getParent() != null
              && owner.getParent().inRoot()
              && "tasks".equals(owner.getCurrentName())) {
            tasks.add(line);
          }
        }
      }
      return new Lines(keys, tasks);
    }

    int key(String key) {
      return keys.getOrDefault(key, 0);
    }

    int task(int i) {
      return i < tasks.size() ? tasks.get(i) : 0;
    }
  }

  /** Keeps key order of the whole mapping for callers that print it. */
  public ObjectNode data() {
    return data.deepCopy();
  }
}
