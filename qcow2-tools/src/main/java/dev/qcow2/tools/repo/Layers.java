package dev.qcow2.tools.repo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.CreateOptions;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;

/**
 * Bases and layers (oVirt imgbased's workflow) in a canga repository: a base is a repository image
 * given a name, never written; a layer is a writable qcow2 overlay in the repository's {@code
 * layers/} folder, named {@code BASE+N}, on the base or on the base's previous layer. Both are
 * recorded in index.yaml under {@code bases} and {@code layers}, which Cangallo ignores.
 */
public final class Layers {
  private final Repository repo;

  public Layers(Repository repo) {
    this.repo = repo;
  }

  public record Base(String name, String sha256, String created) {}

  public record Layer(String name, String base, String parent, String created) {}

  public Path layersDir() {
    return repo.dir().resolve("layers");
  }

  public Path layerPath(String name) {
    return layersDir().resolve(name + ".qcow2");
  }

  public List<Base> bases() throws IOException {
    List<Base> list = new ArrayList<>();
    for (var e : repo.index().section("bases").properties()) {
      list.add(
          new Base(e.getKey(), text(e.getValue(), "sha256"), text(e.getValue(), "creation-time")));
    }
    return list;
  }

  public List<Layer> layers() throws IOException {
    List<Layer> list = new ArrayList<>();
    for (var e : repo.index().section("layers").properties()) {
      list.add(
          new Layer(
              e.getKey(),
              text(e.getValue(), "base"),
              text(e.getValue(), "parent"),
              text(e.getValue(), "creation-time")));
    }
    return list;
  }

  /** The newest base (the last registered: creation order is index order). */
  public Base latestBase() throws IOException {
    List<Base> bases = bases();
    if (bases.isEmpty()) {
      throw new CangaException("There are no bases (canga base add NAME --from IMAGE)");
    }
    return bases.get(bases.size() - 1);
  }

  public Base base(String name) throws IOException {
    for (Base b : bases()) {
      if (b.name().equals(name)) {
        return b;
      }
    }
    throw new CangaException("Base not found: " + name);
  }

  public void addBase(String name, String sha256) throws IOException {
    if (name.isEmpty() || name.contains("+") || name.contains("/") || name.contains(":")) {
      throw new CangaException("A base name may not be empty or hold '+', '/' or ':': " + name);
    }
    repo.update(
        index -> {
          ObjectNode bases = index.section("bases");
          if (bases.has(name)) {
            throw new CangaException("Base already exists: " + name);
          }
          if (index.image(sha256) == null) {
            throw new CangaException("Image not found: " + sha256);
          }
          ObjectNode b = bases.putObject(name);
          b.put("sha256", sha256);
          b.set("creation-time", PsychYaml.time(OffsetDateTime.now()));
          return index.withSection("bases", bases);
        });
  }

  public void removeBase(String name) throws IOException {
    repo.update(
        index -> {
          ObjectNode bases = index.section("bases");
          if (!bases.has(name)) {
            throw new CangaException("Base not found: " + name);
          }
          for (var e : index.section("layers").properties()) {
            if (name.equals(text(e.getValue(), "base"))) {
              throw new CangaException("Base " + name + " is used by layer " + e.getKey());
            }
          }
          bases.remove(name);
          return index.withSection("bases", bases);
        });
  }

  /**
   * A new layer on the latest layer of {@code baseName} (the latest base when null), or on the base
   * itself when it has none yet. The overlay names its backing file relatively.
   */
  public Layer addLayer(String baseName) throws IOException {
    Base base = baseName == null ? latestBase() : base(baseName);
    Files.createDirectories(layersDir());
    return repo.locked(
        () -> {
          RepositoryIndex index = repo.index();
          ObjectNode layers = index.section("layers");
          int n = 0;
          String parent = null;
          for (var e : layers.properties()) {
            if (base.name().equals(text(e.getValue(), "base"))) {
              int k = Integer.parseInt(e.getKey().substring(base.name().length() + 1));
              if (k > n) {
                n = k;
                parent = e.getKey();
              }
            }
          }
          String name = base.name() + "+" + (n + 1);
          String backing = parent == null ? "../" + base.sha256() + ".qcow2" : parent + ".qcow2";
          Path basePath = repo.imagePath(base.sha256());
          long size;
          try (Qcow2Image b =
              Qcow2Image.open(basePath, OpenOptions.builder().openBacking(false).build())) {
            size = b.size();
          }
          Path file = layerPath(name);
          Qcow2Image.create(file, CreateOptions.builder(size).backingFile(backing, "qcow2").build())
              .close();
          ObjectNode l = layers.putObject(name);
          l.put("base", base.name());
          if (parent != null) {
            l.put("parent", parent);
          }
          l.set("creation-time", PsychYaml.time(OffsetDateTime.now()));
          IndexWriter.write(repo.indexFile(), index.withSection("layers", layers).toYaml());
          return new Layer(name, base.name(), parent, text(l, "creation-time"));
        });
  }

  public void removeLayer(String name) throws IOException {
    repo.update(
        index -> {
          ObjectNode layers = index.section("layers");
          if (!layers.has(name)) {
            throw new CangaException("Layer not found: " + name);
          }
          for (var e : layers.properties()) {
            if (name.equals(text(e.getValue(), "parent"))) {
              throw new CangaException("Layer " + name + " is the parent of layer " + e.getKey());
            }
          }
          layers.remove(name);
          try {
            Files.deleteIfExists(layerPath(name));
          } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
          return index.withSection("layers", layers);
        });
  }

  /**
   * The layer's disk as a compressed delta image against its base image; returns the new image's
   * sha256.
   */
  public String commit(String name, String tag, java.io.PrintStream out) throws IOException {
    Layer layer = null;
    for (Layer l : layers()) {
      if (l.name().equals(name)) {
        layer = l;
      }
    }
    if (layer == null) {
      throw new CangaException("Layer not found: " + name);
    }
    Base base = base(layer.base());
    ObjectNode metadata = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
    metadata.put("description", "layer " + name);
    return repo.addImage(
        new Repository.AddRequest(layerPath(name), base.sha256(), false, metadata, tag), out);
  }

  private static String text(JsonNode n, String key) {
    JsonNode v = n.get(key);
    return v == null || v.isNull() ? null : v.asText();
  }
}
