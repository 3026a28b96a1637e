package dev.qcow2.tools.cangafile;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.tools.cli.SizeParser;
import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.PsychYaml;
import dev.qcow2.tools.repo.Repositories;
import dev.qcow2.tools.repo.Repository;
import dev.qcow2.tools.repo.RepositoryIndex;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A build file of several named targets (genoci's workflow), each on a base: {@code empty} (a new
 * disk with one ext4 file system made by {@code mkfs.ext4 -d} from the expanded tarball, with no
 * guest started), an existing image, or an earlier target. Actions: {@code expand}, {@code copy},
 * {@code run}, {@code install} (in the guest, through virt-customize), {@code pre} and {@code post}
 * (on the host, before and after). Targets are built in dependency order, each tagged {@code
 * NAME-YYYY-MM-DD_N} with {@code NAME} moved to the newest; a target whose inputs (base image,
 * actions, input files) did not change is reused. The last build of each target is recorded in
 * index.yaml under {@code builds} (Cangallo ignores the key).
 */
public final class MultiBuild {
  private static final Set<String> KEYS =
      Set.of(
          "base",
          "size",
          "filesystem",
          "expand",
          "copy",
          "run",
          "install",
          "pre",
          "post",
          "description");

  /** One target as written. */
  public record Target(String name, String base, ObjectNode spec) {}

  private final Path file;
  private final Path dir;
  private final Map<String, Target> targets;

  private MultiBuild(Path file, Map<String, Target> targets) {
    this.file = file;
    this.dir = file.toAbsolutePath().getParent();
    this.targets = targets;
  }

  /**
   * Whether {@code root} is a build file of targets: a mapping of mappings that each name a base.
   */
  public static boolean isMultiTarget(JsonNode root) {
    if (!root.isObject() || root.isEmpty()) {
      return false;
    }
    for (var e : root.properties()) {
      if (!e.getValue().isObject() || !e.getValue().has("base")) {
        return false;
      }
    }
    return true;
  }

  /**
   * Reads and checks a build file: keys, bases (empty, an earlier target or an image of the
   * repositories), sizes, and the order; a cycle or an unknown base is refused naming the targets.
   */
  public static MultiBuild read(Path file, Repositories repos) throws IOException {
    JsonNode root = PsychYaml.parse(Files.readString(file, StandardCharsets.UTF_8));
    if (!isMultiTarget(root)) {
      throw new CangaException(file + ": not a build file of targets (each target needs a base)");
    }
    Map<String, Target> targets = new LinkedHashMap<>();
    for (var e : root.properties()) {
      ObjectNode spec = (ObjectNode) e.getValue();
      for (var k : spec.properties()) {
        if (!KEYS.contains(k.getKey())) {
          throw new CangaException(
              file + ": target " + e.getKey() + ": unknown key '" + k.getKey() + "'");
        }
      }
      String base = spec.get("base").asText();
      if (base.equals("empty")) {
        if (!spec.has("size")) {
          throw new CangaException(file + ": target " + e.getKey() + ": base empty needs a size");
        }
        SizeParser.parse(spec.get("size").asText());
        String fs = spec.path("filesystem").asText("ext4");
        if (!fs.equals("ext4")) {
          throw new CangaException(
              file + ": target " + e.getKey() + ": only ext4 file systems are made, not " + fs);
        }
      }
      targets.put(e.getKey(), new Target(e.getKey(), base, spec));
    }
    for (Target t : targets.values()) {
      if (!t.base().equals("empty")
          && !targets.containsKey(t.base())
          && repos.find(t.base()) == null) {
        throw new CangaException(
            file + ": target " + t.name() + ": unknown base '" + t.base() + "'");
      }
    }
    MultiBuild b = new MultiBuild(file, targets);
    b.order();
    return b;
  }

  /** The targets, each after its base; a cycle is refused naming its targets. */
  public List<Target> order() {
    List<Target> done = new ArrayList<>();
    Set<String> placed = new java.util.HashSet<>();
    for (Target t : targets.values()) {
      visit(t, placed, new java.util.LinkedHashSet<>(), done);
    }
    return done;
  }

  private void visit(
      Target t, Set<String> placed, java.util.LinkedHashSet<String> path, List<Target> done) {
    if (placed.contains(t.name())) {
      return;
    }
    if (!path.add(t.name())) {
      List<String> cycle = new ArrayList<>(path);
      cycle = cycle.subList(cycle.indexOf(t.name()), cycle.size());
      cycle.add(t.name());
      throw new CangaException(
          file + ": the targets' bases form a cycle: " + String.join(" -> ", cycle));
    }
    Target base = targets.get(t.base());
    if (base != null) {
      visit(base, placed, path, done);
    }
    path.remove(t.name());
    placed.add(t.name());
    done.add(t);
  }

  private static List<String> list(JsonNode n) {
    List<String> out = new ArrayList<>();
    if (n == null || n.isNull()) {
      return out;
    }
    if (n.isArray()) {
      n.forEach(x -> out.add(x.asText()));
    } else {
      out.add(n.asText());
    }
    return out;
  }

  private Path input(String path) {
    Path p = Path.of(path);
    return p.isAbsolute() ? p : dir.resolve(p);
  }

  /** What virt-customize does for a target (its --commands-from-file lines); empty if nothing. */
  public List<String> guestCommands(Target t) {
    List<String> lines = new ArrayList<>();
    ObjectNode s = t.spec();
    if (s.has("expand") && !t.base().equals("empty")) {
      Path tar = input(s.get("expand").asText());
      lines.add("copy-in " + tar + ":/tmp");
      lines.add(
          "run-command tar -xf /tmp/"
              + tar.getFileName()
              + " -C / && rm -f /tmp/"
              + tar.getFileName());
    }
    int n = 0;
    for (String c : list(s.get("copy"))) {
      String[] parts = c.trim().split("\\s+");
      if (parts.length != 2) {
        throw new CangaException(
            file + ": target " + t.name() + ": copy wants \"SRC DST\", not \"" + c + "\"");
      }
      Path src = input(parts[0]);
      String dst = parts[1];
      if (dst.endsWith("/")) {
        // Into a folder, as virt-customize's copy-in does.
        lines.add("mkdir " + dst);
        lines.add("copy-in " + src + ":" + dst);
      } else {
        // To a path: copy-in wants a folder, so go through one and move the copy into place.
        String tmp = "/tmp/canga-copy-" + ++n;
        String parent =
            dst.contains("/") && dst.lastIndexOf('/') > 0
                ? dst.substring(0, dst.lastIndexOf('/'))
                : "/";
        lines.add("mkdir " + tmp);
        lines.add("copy-in " + src + ":" + tmp);
        lines.add(
            "run-command mkdir -p "
                + parent
                + " && mv "
                + tmp
                + "/"
                + src.getFileName()
                + " "
                + dst
                + " && rmdir "
                + tmp);
      }
    }
    for (String pkg : list(s.get("install"))) {
      Path p = input(pkg);
      String name = p.getFileName().toString();
      lines.add("copy-in " + p + ":/tmp");
      if (name.endsWith(".deb")) {
        lines.add("run-command dpkg -i /tmp/" + name + " && rm -f /tmp/" + name);
      } else if (name.endsWith(".rpm")) {
        lines.add("run-command rpm -i /tmp/" + name + " && rm -f /tmp/" + name);
      } else {
        throw new CangaException(
            file + ": target " + t.name() + ": install takes .deb or .rpm files, not " + name);
      }
    }
    for (String c : list(s.get("run"))) {
      for (String line : c.split("\n")) {
        if (!line.isBlank()) {
          lines.add("run-command " + line);
        }
      }
    }
    return lines;
  }

  /**
   * The sha256 of what a target is made from: its base image, its actions as written, and the
   * content of every input file (tarball, copied files, packages).
   */
  String inputs(Target t, String baseSha) throws IOException {
    MessageDigest md = sha256();
    md.update(("base " + baseSha + "\n").getBytes(StandardCharsets.UTF_8));
    md.update(("spec " + canonical(t.spec()) + "\n").getBytes(StandardCharsets.UTF_8));
    List<String> files = new ArrayList<>();
    if (t.spec().has("expand")) {
      files.add(t.spec().get("expand").asText());
    }
    for (String c : list(t.spec().get("copy"))) {
      files.add(c.trim().split("\\s+")[0]);
    }
    files.addAll(list(t.spec().get("install")));
    for (String f : files) {
      Path p = input(f);
      List<Path> all = new ArrayList<>();
      if (Files.isDirectory(p)) {
        try (Stream<Path> s = Files.walk(p)) {
          s.filter(Files::isRegularFile).sorted().forEach(all::add);
        }
      } else {
        all.add(p);
      }
      for (Path x : all) {
        md.update((x + "\n").getBytes(StandardCharsets.UTF_8));
        try (InputStream in = new DigestInputStream(Files.newInputStream(x), md)) {
          in.transferTo(java.io.OutputStream.nullOutputStream());
        }
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }

  private static String canonical(JsonNode n) {
    if (n.isObject()) {
      TreeMap<String, String> m = new TreeMap<>();
      n.properties().forEach(e -> m.put(e.getKey(), canonical(e.getValue())));
      return m.toString();
    }
    return n.toString();
  }

  /**
   * Builds every target in order into {@code repo}; returns the image of each, by target name.
   *
   * @param customizer what runs virt-customize for targets with guest actions
   */
  public Map<String, String> build(
      Repositories repos,
      Repository repo,
      GuestCustomizer customizer,
      PrintStream out,
      PrintStream err)
      throws IOException {
    Map<String, String> built = new LinkedHashMap<>();
    for (Target t : order()) {
      String baseSha = null;
      if (!t.base().equals("empty")) {
        baseSha = built.containsKey(t.base()) ? built.get(t.base()) : repos.find(t.base()).sha256();
      }
      String inputs = inputs(t, baseSha == null ? "empty" : baseSha);
      String reuse = findBuilt(repo.index(), t.name(), inputs);
      if (reuse != null) {
        out.print(t.name() + ": unchanged, reusing " + reuse + "\n");
        repo.update(index -> index.withTag(t.name(), reuse));
        built.put(t.name(), reuse);
        continue;
      }
      out.print(t.name() + ": building on " + t.base() + "\n");
      out.flush();
      built.put(t.name(), buildOne(t, baseSha, inputs, repo, customizer, out, err));
    }
    return built;
  }

  /**
   * The image of the target's last build if it was made from the same inputs and is still there.
   */
  private static String findBuilt(RepositoryIndex index, String target, String inputs) {
    JsonNode b = index.section("builds").get(target);
    if (b == null || !inputs.equals(b.path("inputs").asText(null))) {
      return null;
    }
    String sha = b.path("image").asText(null);
    return sha != null && index.image(sha) != null ? sha : null;
  }

  private String buildOne(
      Target t,
      String baseSha,
      String inputs,
      Repository repo,
      GuestCustomizer customizer,
      PrintStream out,
      PrintStream err)
      throws IOException {
    Path work = Files.createTempDirectory(repo.dir(), ".canga-build-");
    try {
      for (String c : list(t.spec().get("pre"))) {
        host(c, "pre", t, out);
      }
      Path disk;
      if (baseSha == null) {
        Path root = Files.createDirectories(work.resolve("root"));
        if (t.spec().has("expand")) {
          run(
              List.of(
                  "tar",
                  "-xf",
                  input(t.spec().get("expand").asText()).toString(),
                  "-C",
                  root.toString()),
              t,
              out);
        }
        disk = work.resolve("disk.raw");
        long size = SizeParser.parse(t.spec().get("size").asText());
        try (var f = new java.io.RandomAccessFile(disk.toFile(), "rw")) {
          f.setLength(size);
        }
        run(List.of("mkfs.ext4", "-q", "-F", "-d", root.toString(), disk.toString()), t, out);
      } else {
        disk = work.resolve("disk.qcow2");
        CangafileBuilder.createOverlay(repo.imagePath(baseSha).toAbsolutePath(), disk);
      }
      List<String> guest = guestCommands(t);
      if (!guest.isEmpty()) {
        int status = customizer.customize(disk, guest, List.of(), out, err);
        if (status != 0) {
          throw new CangaException(
              "target " + t.name() + ": virt-customize failed with exit status " + status);
        }
      }
      for (String c : list(t.spec().get("post"))) {
        host(c, "post", t, out);
      }
      ObjectNode metadata = JsonNodeFactory.instance.objectNode();
      if (t.spec().has("description")) {
        metadata.put("description", t.spec().get("description").asText());
      }
      String sha =
          repo.addImage(new Repository.AddRequest(disk, baseSha, false, metadata, null), out);
      repo.update(
          index -> {
            String dated = datedTag(index, t.name());
            ObjectNode builds = index.section("builds");
            ObjectNode b = builds.putObject(t.name());
            b.put("inputs", inputs);
            b.put("image", sha);
            return index.withTag(dated, sha).withTag(t.name(), sha).withSection("builds", builds);
          });
      return sha;
    } finally {
      try (Stream<Path> s = Files.walk(work)) {
        for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
          Files.deleteIfExists(p);
        }
      }
    }
  }

  /** NAME-YYYY-MM-DD_N, N counting this day's builds of the target. */
  static String datedTag(RepositoryIndex index, String name) {
    String day = name + "-" + LocalDate.now() + "_";
    Pattern p = Pattern.compile(Pattern.quote(day) + "(\\d+)");
    int n = 0;
    for (String tag : index.tags().keySet()) {
      var m = p.matcher(tag);
      if (m.matches()) {
        n = Math.max(n, Integer.parseInt(m.group(1)));
      }
    }
    return day + (n + 1);
  }

  private void host(String command, String phase, Target t, PrintStream out) throws IOException {
    run(List.of("sh", "-c", command), t, out, phase + " hook '" + command + "'");
  }

  private void run(List<String> argv, Target t, PrintStream out) throws IOException {
    run(argv, t, out, argv.get(0));
  }

  private void run(List<String> argv, Target t, PrintStream out, String what) throws IOException {
    ProcessBuilder pb = new ProcessBuilder(argv).directory(dir.toFile()).redirectErrorStream(true);
    pb.environment().put("CANGA_TARGET", t.name());
    Process p = pb.start();
    try (InputStream in = p.getInputStream()) {
      in.transferTo(out);
    }
    int code;
    try {
      code = p.waitFor();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
    if (code != 0) {
      throw new CangaException(
          "target " + t.name() + ": " + what + " failed with exit code " + code);
    }
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
