package dev.qcow2.tools.canga;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.CreateOptions;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.tools.cli.JsonOutput;
import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.ImageEntry;
import dev.qcow2.tools.repo.IndexWriter;
import dev.qcow2.tools.repo.Layers;
import dev.qcow2.tools.repo.PsychYaml;
import dev.qcow2.tools.repo.Repositories;
import dev.qcow2.tools.repo.Repository;
import dev.qcow2.tools.repo.RepositoryConfig;
import dev.qcow2.tools.repo.RepositoryIndex;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * The image store (goimagego's workflow) on the canga repositories: {@code store}, {@code images},
 * {@code layers}, {@code instances}, {@code instance create|rm|path}, {@code mount}, {@code umount}
 * and {@code wipe}. Instances are writable overlays in a repository's {@code instances/} folder,
 * recorded in index.yaml under {@code instances}.
 */
final class StoreCommands {
  private StoreCommands() {}

  static Path instancePath(Repository repo, String name) {
    return repo.dir().resolve("instances").resolve(name + ".qcow2");
  }

  static long bytesUnder(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      return 0;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
    }
  }

  @Command(
      name = "store",
      description = "show the store: configuration, repositories, counts and bytes used")
  static final class Store extends CangaCommand {
    @Option(names = "--output", paramLabel = "human|json", defaultValue = "human")
    String output;

    @Override
    int run() throws Exception {
      RepositoryConfig config = repos().config();
      ObjectNode o = JsonNodeFactory.instance.objectNode();
      o.put("config", config.file().toString());
      o.put("default-repo", config.defaultRepo());
      o.put("cache", config.cacheDir().toString());
      ArrayNode list = o.putArray("repos");
      StringBuilder sb =
          new StringBuilder(
              "config: "
                  + config.file()
                  + "\ndefault repo: "
                  + config.defaultRepo()
                  + "\ncache: "
                  + config.cacheDir()
                  + "\n");
      for (String name : config.names()) {
        RepositoryConfig.RepoSettings s = config.repo(name);
        Repository repo = repos().repo(name);
        RepositoryIndex index = repo.index();
        long bytes = bytesUnder(repo.dir());
        ObjectNode r = list.addObject();
        r.put("name", name);
        r.put("type", s.type());
        r.put("path", String.valueOf(s.path()));
        r.put("url", s.url());
        r.put("images", index.images().size());
        r.put("layers", index.section("layers").size());
        r.put("instances", index.section("instances").size());
        r.put("bytes", bytes);
        sb.append(
            String.format(
                "%s: %s %s%s, %d images, %d layers, %d instances, %d bytes%n",
                name,
                s.type(),
                s.path(),
                s.url() != null ? " (" + s.url() + ")" : "",
                index.images().size(),
                index.section("layers").size(),
                index.section("instances").size(),
                bytes));
      }
      out().print(output.equals("json") ? JsonOutput.pretty(o) + "\n" : sb.toString());
      return 0;
    }
  }

  @Command(name = "images", description = "list the images of every repository")
  static final class Images extends CangaCommand {
    @Option(names = "--output", paramLabel = "human|json", defaultValue = "human")
    String output;

    @Override
    int run() throws Exception {
      ArrayNode a = JsonNodeFactory.instance.arrayNode();
      StringBuilder sb =
          new StringBuilder(
              String.format("%-40s %-12s %12s %s%n", "NAME", "IMAGE", "SIZE", "PRESENT"));
      for (String name : repos().config().names()) {
        Repository repo = repos().repo(name);
        RepositoryIndex index = repo.index();
        for (ImageEntry e : index.images().values()) {
          boolean present = Files.exists(repo.imagePath(e.sha256()));
          ObjectNode o = a.addObject();
          o.put("repo", name);
          o.put("name", index.shortName(e.sha256()));
          o.put("sha256", e.sha256());
          o.put("virtual-size", e.virtualSize());
          o.put("present", present);
          o.put("parent", e.parent());
          sb.append(
              String.format(
                  "%-40s %-12s %12d %s%n",
                  name + ":" + index.shortName(e.sha256()),
                  e.sha256().substring(0, 12),
                  e.virtualSize(),
                  present ? "yes" : "no"));
        }
      }
      out().print(output.equals("json") ? JsonOutput.pretty(a) + "\n" : sb.toString());
      return 0;
    }
  }

  @Command(name = "layers", description = "list the layers (as layer list)")
  static final class LayersList extends LayerCommand.ListLayers {}

  @Command(name = "instances", description = "list the instances")
  static final class Instances extends CangaCommand {
    @Option(names = "--output", paramLabel = "human|json", defaultValue = "human")
    String output;

    @Override
    int run() throws Exception {
      ArrayNode a = JsonNodeFactory.instance.arrayNode();
      StringBuilder sb =
          new StringBuilder(String.format("%-24s %-12s %s%n", "NAME", "IMAGE", "PATH"));
      for (String name : repos().config().names()) {
        Repository repo = repos().repo(name);
        for (var e : repo.index().section("instances").properties()) {
          String sha = e.getValue().path("image").asText();
          ObjectNode o = a.addObject();
          o.put("name", e.getKey());
          o.put("repo", name);
          o.put("image", sha);
          o.put("path", instancePath(repo, e.getKey()).toString());
          o.put("creation-time", e.getValue().path("creation-time").asText());
          sb.append(
              String.format(
                  "%-24s %-12s %s%n",
                  e.getKey(),
                  sha.substring(0, Math.min(12, sha.length())),
                  instancePath(repo, e.getKey())));
        }
      }
      out().print(output.equals("json") ? JsonOutput.pretty(a) + "\n" : sb.toString());
      return 0;
    }
  }

  @Command(
      name = "instance",
      description = "manage instances: writable overlays of images",
      subcommands = {InstanceCreate.class, InstanceRemove.class, InstancePath.class})
  static final class Instance extends CangaCommand {
    @Override
    int run() {
      spec.commandLine().usage(out());
      return 0;
    }
  }

  @Command(
      name = "create",
      description = "a writable instance of IMAGE (pulled first with its ancestors if needed)")
  static final class InstanceCreate extends CangaCommand {
    @Parameters(index = "0", paramLabel = "IMAGE")
    String image;

    @Option(names = "--name", paramLabel = "NAME")
    String name;

    @Override
    int run() throws Exception {
      Repositories.Found found = repos().find(image);
      if (found == null) {
        throw new CangaException("Image not found: " + image);
      }
      PullCommand.pullChain(found, err());
      Repository repo = found.repo();
      String sha = found.sha256();
      return repo.locked(
          () -> {
            RepositoryIndex index = repo.index();
            ObjectNode instances = index.section("instances");
            String n = name;
            if (n == null) {
              int i = 1;
              String stem = index.shortName(sha).replace('/', '-').replace(':', '-');
              while (instances.has(stem + "-" + i)) {
                i++;
              }
              n = stem + "-" + i;
            }
            if (n.isEmpty() || n.contains("/") || instances.has(n)) {
              throw new CangaException("Instance name taken or invalid: " + n);
            }
            Path file = instancePath(repo, n);
            Files.createDirectories(file.getParent());
            long size;
            try (Qcow2Image img =
                Qcow2Image.open(
                    repo.imagePath(sha), OpenOptions.builder().openBacking(false).build())) {
              size = img.size();
            }
            Qcow2Image.create(
                    file,
                    CreateOptions.builder(size)
                        .backingFile("../" + sha + ".qcow2", "qcow2")
                        .build())
                .close();
            ObjectNode o = instances.putObject(n);
            o.put("image", sha);
            o.set("creation-time", PsychYaml.time(OffsetDateTime.now()));
            IndexWriter.write(repo.indexFile(), index.withSection("instances", instances).toYaml());
            out().print(n + "\n");
            return 0;
          });
    }
  }

  /** The repository holding instance {@code name}. */
  static Repository instanceRepo(CangaCommand c, String name) throws IOException {
    for (String r : c.repos().config().names()) {
      Repository repo = c.repos().repo(r);
      if (repo.index().section("instances").has(name)) {
        return repo;
      }
    }
    throw new CangaException("Instance not found: " + name);
  }

  @Command(name = "rm", aliases = "del", description = "remove an instance and its file")
  static final class InstanceRemove extends CangaCommand {
    @Parameters(index = "0", paramLabel = "NAME")
    String name;

    @Override
    int run() throws Exception {
      Repository repo = instanceRepo(this, name);
      repo.update(
          index -> {
            ObjectNode instances = index.section("instances");
            instances.remove(name);
            try {
              Files.deleteIfExists(instancePath(repo, name));
            } catch (IOException e) {
              throw new java.io.UncheckedIOException(e);
            }
            return index.withSection("instances", instances);
          });
      return 0;
    }
  }

  @Command(name = "path", description = "print an instance's file")
  static final class InstancePath extends CangaCommand {
    @Parameters(index = "0", paramLabel = "NAME")
    String name;

    @Override
    int run() throws Exception {
      out().print(instancePath(instanceRepo(this, name), name) + "\n");
      return 0;
    }
  }

  @Command(
      name = "mount",
      description = "mount an image (read-only) or instance (writable) with guestmount")
  static final class Mount extends CangaCommand {
    @Parameters(index = "0", paramLabel = "IMAGE|INSTANCE")
    String what;

    @Parameters(index = "1", paramLabel = "DIR")
    Path dir;

    @Override
    int run() throws Exception {
      if (!Files.exists(Path.of("/dev/fuse"))) {
        throw new CangaException("FUSE is not available here (/dev/fuse is missing): cannot mount");
      }
      Path file;
      boolean writable;
      try {
        file = instancePath(instanceRepo(this, what), what);
        writable = true;
      } catch (CangaException notInstance) {
        Repositories.Found found = repos().find(what);
        if (found == null) {
          throw new CangaException("Neither an instance nor an image: " + what);
        }
        file = found.repo().imagePath(found.sha256());
        writable = false;
      }
      // An operating system's disk is inspected (-i); a bare filesystem is mounted as the whole
      // disk, or as its first partition.
      List<List<String>> ways =
          List.of(List.of("-i"), List.of("-m", "/dev/sda"), List.of("-m", "/dev/sda1"));
      StringBuilder messages = new StringBuilder();
      for (List<String> way : ways) {
        List<String> argv = new ArrayList<>(List.of("guestmount", "-a", file.toString()));
        argv.addAll(way);
        if (!writable) {
          argv.add("--ro");
        }
        argv.add(dir.toString());
        ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true);
        pb.environment()
            .putAll(
                dev.qcow2.tools.cangafile.GuestCustomizer.libguestfsEnvironment(
                    cli().env(), dev.qcow2.tools.cangafile.GuestCustomizer.kvmUsable()));
        Process p;
        try {
          p = pb.start();
        } catch (IOException e) {
          throw new CangaException(
              "cannot run guestmount (is libguestfs-tools installed?): " + e.getMessage());
        }
        String output =
            new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        if (p.waitFor() == 0) {
          return 0;
        }
        messages.append(output);
      }
      err().print(messages);
      throw new CangaException("guestmount could not mount " + what);
    }
  }

  @Command(name = "umount", description = "unmount a folder mounted by canga mount")
  static final class Umount extends CangaCommand {
    @Parameters(index = "0", paramLabel = "DIR")
    Path dir;

    @Override
    int run() throws Exception {
      Process p;
      try {
        p = new ProcessBuilder("guestunmount", dir.toString()).redirectErrorStream(true).start();
      } catch (IOException e) {
        throw new CangaException(
            "cannot run guestunmount (is libguestfs-tools installed?): " + e.getMessage());
      }
      p.getInputStream().transferTo(err());
      int code = p.waitFor();
      if (code != 0) {
        throw new CangaException("guestunmount failed with exit code " + code);
      }
      return 0;
    }
  }

  @Command(
      name = "wipe",
      description = "remove every image, layer and instance of a repository (with --yes)")
  static final class Wipe extends CangaCommand {
    @Parameters(index = "0", arity = "0..1", paramLabel = "REPO")
    String repoName;

    @Option(names = "--yes", description = "really remove; without it, only say what would go")
    boolean yes;

    @Override
    int run() throws Exception {
      Repository repo = repos().repo(repoName);
      RepositoryIndex index = repo.index();
      Layers layers = new Layers(repo);
      List<Path> files = new ArrayList<>();
      for (String sha : index.images().keySet()) {
        files.add(repo.imagePath(sha));
      }
      for (Layers.Layer l : layers.layers()) {
        files.add(layers.layerPath(l.name()));
      }
      for (var e : index.section("instances").properties()) {
        files.add(instancePath(repo, e.getKey()));
      }
      if (!yes) {
        out()
            .print(
                "Would remove from "
                    + repo.name()
                    + " ("
                    + repo.dir()
                    + "): "
                    + index.images().size()
                    + " images, "
                    + layers.layers().size()
                    + " layers, "
                    + index.section("instances").size()
                    + " instances, "
                    + bytesUnder(repo.dir())
                    + " bytes. Run with --yes to remove them.\n");
        return 0;
      }
      repo.update(
          i -> {
            RepositoryIndex empty = RepositoryIndex.empty();
            for (Path f : files) {
              try {
                Files.deleteIfExists(f);
              } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
              }
            }
            return empty;
          });
      out().print("Removed " + files.size() + " files from " + repo.name() + "\n");
      return 0;
    }
  }
}
