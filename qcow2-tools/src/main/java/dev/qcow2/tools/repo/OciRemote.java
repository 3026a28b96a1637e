package dev.qcow2.tools.repo;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.tools.cli.ProgressBar;
import dev.qcow2.tools.oci.CangaArtifacts;
import dev.qcow2.tools.oci.CangaChanges;
import dev.qcow2.tools.oci.CredentialStore;
import dev.qcow2.tools.oci.IndexSignature;
import dev.qcow2.tools.oci.OciException;
import dev.qcow2.tools.oci.OciReference;
import dev.qcow2.tools.oci.RegistryClient;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.LongConsumer;

/**
 * A repository of an OCI registry, {@code oci://HOST[:PORT]/NAMESPACE/REPO}, holding canga images
 * as artifacts ({@link CangaArtifacts}): the index is built from the registry's tags and manifests
 * on each fetch (a repository nobody pushed to yet is an empty index), a push stores each image's
 * layer once and tags its manifest, and a pull checks the layer's digest as it arrives and the
 * image's content sha256 before the file takes its place ({@link VerifiedDownload}).
 *
 * <p>Credentials as skopeo and podman read them ({@link CredentialStore}); plain HTTP for loopback
 * registries and for those config.yaml lists as insecure.
 */
final class OciRemote implements Remote {
  private final String url;
  private final CangaArtifacts artifacts;

  private OciRemote(String url, CangaArtifacts artifacts) {
    this.url = url;
    this.artifacts = artifacts;
  }

  static boolean isOci(String url) {
    return url.startsWith("oci://");
  }

  /**
   * @param env where credentials are looked up ({@code REGISTRY_AUTH_FILE}, {@code HOME} ...)
   * @param insecure registries ({@code host} or {@code host:port}) reached over plain HTTP
   */
  static OciRemote open(String url, Map<String, String> env, Set<String> insecure)
      throws IOException {
    OciReference ref;
    try {
      ref = OciReference.parse(url);
    } catch (IllegalArgumentException e) {
      throw new CangaException("Remote url '" + url + "': " + e.getMessage());
    }
    if (ref.tag() != null) {
      throw new CangaException(
          "Remote url '" + url + "' names a tag; a remote is a whole repository");
    }
    CredentialStore credentials = new CredentialStore(env, RepositoryConfig.userHome(env));
    return new OciRemote(url, new CangaArtifacts(new RegistryClient(ref, credentials, insecure)));
  }

  @Override
  public String url() {
    return url;
  }

  @Override
  public boolean writable() {
    return true;
  }

  /** The registry's canga images; a repository that does not exist yet has none. */
  private CangaArtifacts.Listing listing() throws IOException {
    try {
      return artifacts.list();
    } catch (OciException e) {
      if (e.kind() == OciException.Kind.NOT_FOUND
          && e.getMessage().contains("no such repository")) {
        return new CangaArtifacts.Listing(Map.of(), Map.of());
      }
      throw e;
    }
  }

  @Override
  public String fetchIndex() throws IOException {
    CangaArtifacts.Listing listing = listing();
    RepositoryIndex index = RepositoryIndex.empty();
    for (ObjectNode entry : listing.images().values()) {
      index = index.withImage(ImageEntry.of(entry));
    }
    for (Map.Entry<String, String> t : listing.tags().entrySet()) {
      index = index.withTag(t.getKey(), t.getValue());
    }
    return index.toYaml();
  }

  /**
   * {@code index.yaml} is the index the registry's tags make ({@link #fetchIndex}), {@code
   * index.yaml.sig} its signature ({@link IndexSignature}); a registry holds nothing else.
   */
  @Override
  public byte[] fetchOptional(String name) throws IOException {
    switch (name) {
      case "index.yaml":
        return fetchIndex().getBytes(StandardCharsets.UTF_8);
      case "index.yaml.sig":
        try {
          return signature().fetch();
        } catch (OciException e) {
          if (e.kind() == OciException.Kind.NOT_FOUND) {
            return null; // no repository yet
          }
          throw e;
        }
      default:
        return null;
    }
  }

  private IndexSignature signature() {
    return new IndexSignature(artifacts.client());
  }

  @Override
  public void pull(Repository repo, ImageEntry entry, PrintStream progress) throws IOException {
    VerifiedDownload.pull(
        repo,
        entry,
        (ch, p) -> {
          // A digest is checked over the whole blob: a download always starts from its first byte.
          ch.truncate(0);
          ch.position(0);
          OutputStream out = Channels.newOutputStream(ch);
          try {
            artifacts.pull(
                entry.node(), out, bar(p, entry.actualSize()), VerifiedDownload::downloading);
          } catch (IOException | RuntimeException e) {
            ch.truncate(0); // nothing of a failed download is kept
            throw e;
          }
        },
        progress);
  }

  @Override
  public boolean push(Path file, ImageEntry entry, PrintStream progress) throws IOException {
    ObjectNode node = entry.node();
    List<CangaArtifacts.Pushed> done =
        artifacts.push(
            List.of(new CangaArtifacts.Image(node, file)),
            Map.of(),
            bar(progress, Files.size(file)));
    indexChanged();
    return done.get(0).layerUploaded();
  }

  @Override
  public void publish(List<ImageEntry> entries, Map<String, String> tags) throws IOException {
    // The manifests are in place (push); this tags them, which rewrites nothing already tagged.
    List<CangaArtifacts.Image> chain = new java.util.ArrayList<>();
    for (ImageEntry e : entries) {
      chain.add(new CangaArtifacts.Image(e.node(), null));
    }
    artifacts.push(chain, tags, null);
    indexChanged();
  }

  @Override
  public boolean delete(String sha256) throws IOException {
    CangaArtifacts.Listing listing = listing();
    if (!listing.images().containsKey(sha256)) {
      return false;
    }
    List<String> children =
        listing.images().values().stream()
            .filter(e -> sha256.equals(e.path("parent").asText(null)))
            .map(e -> e.path("sha256").asText())
            .toList();
    if (!children.isEmpty()) {
      throw new CangaException(
          "Image "
              + sha256
              + " is the parent of "
              + String.join(", ", children)
              + " in "
              + url()
              + "; delete them first");
    }
    new CangaChanges(artifacts).delete(listing, sha256);
    indexChanged();
    return true;
  }

  @Override
  public void tag(String tag, String sha256) throws IOException {
    CangaArtifacts.Listing listing = listing();
    if (!listing.images().containsKey(sha256)) {
      throw new CangaException("Image " + sha256 + " is not in " + url());
    }
    new CangaChanges(artifacts).tag(listing, tag, sha256);
    indexChanged();
  }

  @Override
  public void deltag(String tag) throws IOException {
    CangaArtifacts.Listing listing = listing();
    if (!listing.tags().containsKey(tag)) {
      throw new CangaException("Tag \"" + tag + "\" is not in " + url());
    }
    new CangaChanges(artifacts).deltag(listing, tag);
    indexChanged();
  }

  @Override
  public void store(String name, byte[] content) throws IOException {
    if (!name.equals("index.yaml.sig")) {
      throw new CangaException(
          "Remote " + url + " is an OCI registry, which holds no " + name + " of its own");
    }
    signature().store(content);
  }

  /** The index changed: a signature of the old one would no longer verify, so it goes. */
  private void indexChanged() throws IOException {
    signature().drop();
  }

  private static LongConsumer bar(PrintStream progress, long size) {
    if (progress == null || size <= 0) {
      return null;
    }
    ProgressBar bar = new ProgressBar(progress, size);
    return bar::accept;
  }

  @Override
  public void close() {
    // RegistryClient's HttpClient holds no resource that outlives its last request here.
  }
}
