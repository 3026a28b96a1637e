package dev.qcow2.tools.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

/**
 * An OCI image layout folder (image-spec {@code image-layout.md}):
 *
 * <pre>
 * oci-layout          {"imageLayoutVersion": "1.0.0"}
 * index.json          an image index; each manifest named by org.opencontainers.image.ref.name
 * blobs/sha256/HEX    every blob, named by its digest
 * </pre>
 *
 * Adding an image to an existing layout keeps its other images and replaces the one with the same
 * name; {@code index.json} is replaced whole (written beside, then renamed). {@link #archive}
 * writes the folder as the tar that {@code oci-archive:} names.
 */
final class OciLayout {
  static final String REF_NAME = "org.opencontainers.image.ref.name";

  private final Path dir;

  OciLayout(Path dir) {
    this.dir = dir;
  }

  /** Stores a blob from a file (moved in), unless the layout has it. */
  void putBlob(Digest digest, Path file) throws IOException {
    Path target = blob(digest);
    if (Files.exists(target)) {
      Files.delete(file);
      return;
    }
    Files.createDirectories(target.getParent());
    Files.move(file, target, StandardCopyOption.REPLACE_EXISTING);
  }

  void putBlob(Digest digest, byte[] bytes) throws IOException {
    Path target = blob(digest);
    if (!Files.exists(target)) {
      Files.createDirectories(target.getParent());
      Path tmp = target.resolveSibling(digest.hex() + ".tmp");
      Files.write(tmp, bytes);
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  Path blob(Digest digest) {
    return dir.resolve("blobs/sha256/" + digest.hex());
  }

  /** Stores the manifest and names it {@code tag} in {@code index.json}. */
  void putManifest(byte[] manifest, String tag) throws IOException {
    Digest digest = Digest.of(manifest);
    putBlob(digest, manifest);
    Path layoutFile = dir.resolve("oci-layout");
    if (!Files.exists(layoutFile)) {
      Files.writeString(layoutFile, "{\"imageLayoutVersion\":\"1.0.0\"}");
    }
    ObjectNode index = readIndex();
    ArrayNode manifests = JsonNodeFactory.instance.arrayNode();
    for (JsonNode m : index.path("manifests")) {
      if (!tag.equals(m.path("annotations").path(REF_NAME).asText(null))) {
        manifests.add(m);
      }
    }
    manifests.add(
        new Descriptor(ImageManifest.MEDIA_TYPE, digest, manifest.length)
            .toJson()
            .set("annotations", JsonNodeFactory.instance.objectNode().put(REF_NAME, tag)));
    index.set("manifests", manifests);
    Path tmp = dir.resolve("index.json.tmp");
    Files.write(tmp, RegistryClient.JSON.writeValueAsBytes(index));
    Files.move(
        tmp,
        dir.resolve("index.json"),
        StandardCopyOption.REPLACE_EXISTING,
        StandardCopyOption.ATOMIC_MOVE);
  }

  private ObjectNode readIndex() throws IOException {
    Path file = dir.resolve("index.json");
    if (!Files.exists(file)) {
      ObjectNode n = JsonNodeFactory.instance.objectNode();
      n.put("schemaVersion", 2);
      n.put("mediaType", RegistryClient.OCI_INDEX);
      return n;
    }
    JsonNode n;
    try {
      n = RegistryClient.JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new OciException(
          OciException.Kind.INVALID, file + ": not an OCI image index: " + e.getMessage());
    }
    if (n == null || !n.isObject() || n.path("schemaVersion").asInt() != 2) {
      throw new OciException(
          OciException.Kind.INVALID, file + ": not an OCI image index (schemaVersion 2)");
    }
    return (ObjectNode) n;
  }

  /**
   * Writes the folder as a tar at {@code archive}: {@code oci-layout}, {@code index.json}, {@code
   * blobs/...}.
   */
  void archive(Path archive) throws IOException {
    Path tmp = archive.resolveSibling(archive.getFileName() + ".tmp");
    try (OutputStream out = Files.newOutputStream(tmp);
        TarArchiveOutputStream tar = new TarArchiveOutputStream(out)) {
      tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
      tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
      List<Path> entries;
      try (Stream<Path> s = Files.walk(dir)) {
        entries = s.filter(p -> !p.equals(dir)).sorted().toList();
      }
      for (Path p : entries) {
        String name =
            dir.relativize(p).toString().replace('\\', '/') + (Files.isDirectory(p) ? "/" : "");
        TarArchiveEntry e = new TarArchiveEntry(p.toFile(), name);
        tar.putArchiveEntry(e);
        if (Files.isRegularFile(p)) {
          try (InputStream in = Files.newInputStream(p)) {
            in.transferTo(tar);
          }
        }
        tar.closeArchiveEntry();
      }
      tar.finish();
    } catch (IOException e) {
      Files.deleteIfExists(tmp);
      throw e;
    }
    Files.move(tmp, archive, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }
}
