package dev.qcow2.tools.oci;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.LongConsumer;
import java.util.regex.Pattern;

/**
 * canga images stored in a registry repository as OCI artifacts, one image manifest each:
 *
 * <pre>
 * artifactType  application/vnd.qcow2.canga.image.v1
 * config        application/vnd.qcow2.canga.image.config.v1+json   the image's index entry, as JSON
 * layers[0]     application/vnd.qcow2.canga.image.layer.v1.qcow2   the &lt;sha256&gt;.qcow2 file, verbatim
 * annotations   dev.qcow2.canga.sha256        the image id
 *               dev.qcow2.canga.parent        the parent's image id (absent for a base)
 *               dev.qcow2.canga.parent.layer  the digest of the parent's layer
 *               dev.qcow2.canga.tags          JSON array of the canga tags no registry tag can hold
 *               org.opencontainers.image.created
 * </pre>
 *
 * The manifest is tagged with the image's sha256 and with each canga tag that is a legal OCI tag
 * (and not 64 hex digits, which would read as an id). Other tags ({@code base+1}, {@code
 * team/base}, longer than 128 characters) live in the annotation; when two manifests claim one, the
 * newest {@code created} wins. A delta's layer keeps its relative backing name, so the pulled files
 * form a working chain as they do in a repository folder, and each layer is a blob shared by every
 * image and tag that uses it.
 */
public final class CangaArtifacts {
  public static final String ARTIFACT_TYPE = "application/vnd.qcow2.canga.image.v1";
  public static final String CONFIG_TYPE = "application/vnd.qcow2.canga.image.config.v1+json";
  public static final String LAYER_TYPE = "application/vnd.qcow2.canga.image.layer.v1.qcow2";
  static final String SHA256 = "dev.qcow2.canga.sha256";
  static final String PARENT = "dev.qcow2.canga.parent";
  static final String PARENT_LAYER = "dev.qcow2.canga.parent.layer";
  static final String TAGS = "dev.qcow2.canga.tags";
  static final String CREATED = "org.opencontainers.image.created";
  private static final Pattern ID = Pattern.compile("[0-9a-f]{64}");

  /**
   * One image to push: its index entry (with {@code sha256}, maybe {@code parent}) and its file.
   */
  public record Image(ObjectNode entry, Path file) {
    public Image {
      entry = entry.deepCopy();
      if (!ID.matcher(entry.path("sha256").asText()).matches()) {
        throw new IllegalArgumentException(
            "an image entry needs its sha256 (64 hex digits): " + entry);
      }
    }

    public String sha256() {
      return entry.get("sha256").asText();
    }

    String parent() {
      JsonNode p = entry.get("parent");
      return p == null || p.isNull() ? null : p.asText();
    }
  }

  /** What a push did for one image. */
  public record Pushed(String sha256, Digest manifest, Descriptor layer, boolean layerUploaded) {}

  /**
   * The repository's images (entries keyed by sha256, parents before children) and tags (tag to
   * sha256), as {@code index.yaml} holds them. The entries are copies.
   */
  public record Listing(Map<String, ObjectNode> images, Map<String, String> tags) {
    public Listing {
      images = Collections.unmodifiableMap(new LinkedHashMap<>(images));
      tags = Collections.unmodifiableMap(new LinkedHashMap<>(tags));
    }
  }

  private final RegistryClient client;

  public CangaArtifacts(RegistryClient client) {
    this.client = client;
  }

  /**
   * The canga images of the repository {@code url} ({@code oci://HOST[:PORT]/NAMESPACE/REPO}), with
   * credentials from the environment ({@link CredentialStore#fromEnvironment}).
   *
   * @param insecure registries ({@code host} or {@code host:port}) reached over plain HTTP
   */
  public static CangaArtifacts at(String url, Set<String> insecure) {
    return new CangaArtifacts(
        new RegistryClient(OciReference.parse(url), CredentialStore.fromEnvironment(), insecure));
  }

  /** The registry client, for messages ({@code client().repository()}). */
  public RegistryClient client() {
    return client;
  }

  // ---- the model (pure)

  /** The registry tags of an image: its sha256, then each canga tag a registry can hold. */
  static List<String> registryTags(String sha256, List<String> cangaTags) {
    List<String> list = new ArrayList<>(List.of(sha256));
    for (String t : cangaTags) {
      if (isRegistryTag(t) && !list.contains(t)) {
        list.add(t);
      }
    }
    return list;
  }

  /** The canga tags that live in the annotation instead. */
  static List<String> annotationTags(List<String> cangaTags) {
    return cangaTags.stream().filter(t -> !isRegistryTag(t)).distinct().toList();
  }

  static boolean isRegistryTag(String t) {
    return OciReference.isLegalTag(t) && !ID.matcher(t).matches();
  }

  static byte[] configBytes(ObjectNode entry) {
    try {
      return RegistryClient.JSON.writeValueAsBytes(entry);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The manifest of an image whose config and layer are stored. */
  static ImageManifest manifest(
      Image image,
      Descriptor config,
      Descriptor layer,
      Digest parentLayer,
      List<String> cangaTags,
      Instant created) {
    Map<String, String> a = new LinkedHashMap<>();
    a.put(SHA256, image.sha256());
    if (image.parent() != null) {
      a.put(PARENT, image.parent());
      a.put(PARENT_LAYER, parentLayer.toString());
    }
    List<String> extra = annotationTags(cangaTags);
    if (!extra.isEmpty()) {
      ArrayNode arr = JsonNodeFactory.instance.arrayNode();
      extra.forEach(arr::add);
      a.put(TAGS, arr.toString());
    }
    a.put(CREATED, created.toString());
    return new ImageManifest(ARTIFACT_TYPE, config, List.of(layer), a);
  }

  /** Whether two manifests say the same but for their creation time. */
  static boolean sameButCreated(ImageManifest a, ImageManifest b) {
    Map<String, String> x = new HashMap<>(a.annotations());
    Map<String, String> y = new HashMap<>(b.annotations());
    x.remove(CREATED);
    y.remove(CREATED);
    return x.equals(y)
        && a.config().equals(b.config())
        && a.layers().equals(b.layers())
        && Objects.equals(a.artifactType(), b.artifactType());
  }

  // ---- push

  /**
   * Pushes a chain, root first. A layer the registry already has (found through the image's
   * manifest, else by the file's digest) is not sent again, and a manifest is kept when nothing but
   * its time would change. Then each image is tagged with its sha256 and its legal canga tags.
   *
   * @param chain the images, each after its parent (a parent missing from the chain must already be
   *     there)
   * @param tags canga tags to sha256 (tags of images outside the chain are ignored)
   * @param progress told the bytes of the layer being sent, or null
   */
  public List<Pushed> push(List<Image> chain, Map<String, String> tags, LongConsumer progress)
      throws OciException {
    Map<String, Digest> layers = new HashMap<>();
    List<Pushed> done = new ArrayList<>();
    for (Image image : chain) {
      List<String> own = new ArrayList<>();
      tags.forEach(
          (t, sha) -> {
            if (sha.equals(image.sha256())) {
              own.add(t);
            }
          });
      Digest parentLayer = null;
      if (image.parent() != null) {
        parentLayer =
            layers.containsKey(image.parent())
                ? layers.get(image.parent())
                : remoteLayer(image.parent());
        if (parentLayer == null) {
          throw new OciException(
              OciException.Kind.NOT_FOUND,
              client.where()
                  + ": the parent "
                  + image.parent()
                  + " of "
                  + image.sha256()
                  + " is neither in the pushed chain nor in the registry");
        }
      }
      Pushed p = pushOne(image, parentLayer, own, progress);
      layers.put(image.sha256(), p.layer().digest());
      done.add(p);
    }
    return done;
  }

  private Pushed pushOne(
      Image image, Digest parentLayer, List<String> cangaTags, LongConsumer progress)
      throws OciException {
    String sha = image.sha256();
    ImageManifest existing = existing(sha);
    Descriptor layer = null;
    if (existing != null
        && existing.layers().size() == 1
        && client.blobExists(existing.layers().get(0).digest())) {
      layer = existing.layers().get(0);
    }
    boolean upload = false;
    if (layer == null) {
      // Hashing the file first costs one local read and spares the upload of a layer an
      // interrupted push (or another image's push) already left in the registry.
      Digest digest = fileDigest(image.file());
      if (client.blobExists(digest)) {
        layer = new Descriptor(LAYER_TYPE, digest, size(image.file()));
      } else {
        layer = client.pushBlob(image.file(), LAYER_TYPE, progress);
        upload = true;
        if (!layer.digest().equals(digest)) {
          throw new OciException(
              OciException.Kind.INVALID, image.file() + " changed while it was being pushed");
        }
      }
    }
    Descriptor config = client.pushBlob(configBytes(image.entry()), CONFIG_TYPE);
    ImageManifest wanted = manifest(image, config, layer, parentLayer, cangaTags, Instant.now());
    ImageManifest stored = existing != null && sameButCreated(existing, wanted) ? existing : wanted;
    byte[] bytes = stored.toBytes();
    Digest digest = Digest.of(bytes);
    for (String t : registryTags(sha, cangaTags)) {
      if (!digest.equals(client.manifestDigest(t))) {
        client.putManifest(t, bytes, ImageManifest.MEDIA_TYPE);
      }
    }
    return new Pushed(sha, digest, layer, upload);
  }

  private static Digest fileDigest(Path file) throws OciException {
    try {
      return Digest.ofFile(file);
    } catch (IOException e) {
      throw new OciException(
          OciException.Kind.INVALID, "cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  private static long size(Path file) throws OciException {
    try {
      return Files.size(file);
    } catch (IOException e) {
      throw new OciException(
          OciException.Kind.INVALID, "cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  /** The canga manifest tagged {@code sha256}, or null. */
  ImageManifest existing(String sha256) throws OciException {
    if (client.manifestDigest(sha256) == null) {
      return null;
    }
    return cangaManifest(client.getManifest(sha256), sha256);
  }

  private Digest remoteLayer(String sha256) throws OciException {
    ImageManifest m = existing(sha256);
    return m == null ? null : m.layers().get(0).digest();
  }

  /**
   * The manifest if it is the canga image {@code sha256}; null for anything else the repository
   * holds.
   */
  private ImageManifest cangaManifest(RegistryClient.Manifest raw, String sha256)
      throws OciException {
    if (!ImageManifest.MEDIA_TYPE.equals(raw.mediaType())) {
      return null; // an index or a Docker manifest: not ours
    }
    ImageManifest m = ImageManifest.parse(raw.bytes(), where(sha256));
    return isCanga(m, sha256) ? m : null;
  }

  private static boolean isCanga(ImageManifest m, String sha256) {
    return CONFIG_TYPE.equals(m.config().mediaType())
        && m.layers().size() == 1
        && sha256.equals(m.annotations().get(SHA256));
  }

  private String where(String tag) {
    return client.where() + " manifest " + tag;
  }

  // ---- list and pull

  /**
   * Builds the index from the registry: every manifest tagged with a sha256 is an image (its config
   * read back as the entry), every other tag names the image its manifest carries, and the
   * annotated tags are added where no registry tag or newer manifest claims them. Manifests that
   * are not canga images are ignored.
   */
  public Listing list() throws OciException {
    List<String> tags = client.tags();
    Map<String, ObjectNode> entries = new LinkedHashMap<>();
    Map<Digest, String> byManifest = new HashMap<>();
    Map<String, Instant> created = new HashMap<>();
    Map<String, List<String>> annotated = new LinkedHashMap<>();
    for (String t : tags) {
      if (!ID.matcher(t).matches()) {
        continue;
      }
      RegistryClient.Manifest raw = client.getManifest(t);
      ImageManifest m = cangaManifest(raw, t);
      if (m == null) {
        continue;
      }
      ObjectNode entry = entry(m, t);
      entries.put(t, entry);
      byManifest.put(raw.digest(), t);
      created.put(t, instant(m.annotations().get(CREATED)));
      annotated.put(t, annotated(m, t));
    }
    Map<String, String> tagMap = new LinkedHashMap<>();
    for (String t : tags) {
      if (ID.matcher(t).matches()) {
        continue;
      }
      Digest d = client.manifestDigest(t);
      String sha = d == null ? null : byManifest.get(d);
      if (sha == null && d != null) {
        RegistryClient.Manifest raw = client.getManifest(t);
        ImageManifest m =
            ImageManifest.MEDIA_TYPE.equals(raw.mediaType())
                ? ImageManifest.parse(raw.bytes(), where(t))
                : null;
        String claimed = m == null ? null : m.annotations().get(SHA256);
        sha =
            claimed != null && entries.containsKey(claimed) && isCanga(m, claimed) ? claimed : null;
      }
      if (sha != null) {
        tagMap.put(t, sha);
      }
    }
    Map<String, Instant> claimedAt = new HashMap<>();
    annotated.forEach(
        (sha, list) -> {
          for (String t : list) {
            Instant when = created.get(sha);
            Instant other = claimedAt.get(t);
            if (tagMap.containsKey(t) && other == null) {
              continue; // a registry tag says where it is
            }
            if (other == null || when.isAfter(other)) {
              tagMap.put(t, sha);
              claimedAt.put(t, when);
            }
          }
        });
    return new Listing(parentsFirst(entries), tagMap);
  }

  private ObjectNode entry(ImageManifest m, String sha256) throws OciException {
    byte[] config = client.fetchBlob(m.config());
    JsonNode node;
    try {
      node = RegistryClient.JSON.readTree(config);
    } catch (IOException e) {
      throw new OciException(OciException.Kind.INVALID, where(sha256) + ": config is not JSON");
    }
    if (node == null || !node.isObject() || !sha256.equals(node.path("sha256").asText())) {
      throw new OciException(
          OciException.Kind.INVALID,
          where(sha256) + ": config is not the index entry of " + sha256);
    }
    return (ObjectNode) node;
  }

  private List<String> annotated(ImageManifest m, String sha256) throws OciException {
    String text = m.annotations().get(TAGS);
    List<String> list = new ArrayList<>();
    if (text == null) {
      return list;
    }
    try {
      for (JsonNode t : RegistryClient.JSON.readTree(text)) {
        list.add(t.asText());
      }
    } catch (IOException e) {
      throw new OciException(
          OciException.Kind.INVALID,
          where(sha256) + ": annotation " + TAGS + " is not a JSON array");
    }
    return list;
  }

  private static Instant instant(String text) {
    try {
      return text == null ? Instant.EPOCH : Instant.parse(text);
    } catch (DateTimeParseException e) {
      return Instant.EPOCH;
    }
  }

  /** The entries with every parent before its children, otherwise in tag order. */
  private static Map<String, ObjectNode> parentsFirst(Map<String, ObjectNode> entries) {
    Map<String, ObjectNode> out = new LinkedHashMap<>();
    for (String sha : entries.keySet()) {
      List<String> chain = new ArrayList<>();
      String at = sha;
      while (at != null && entries.containsKey(at) && !out.containsKey(at) && !chain.contains(at)) {
        chain.add(at);
        JsonNode p = entries.get(at).get("parent");
        at = p == null || p.isNull() ? null : p.asText();
      }
      Collections.reverse(chain);
      chain.forEach(s -> out.put(s, entries.get(s)));
    }
    return out;
  }

  /**
   * Downloads the layer of the image {@code entry} describes into {@code target}, verified against
   * its digest ({@link RegistryClient#pullBlob}); refused before any download when the manifest
   * names a parent whose layer the registry lacks.
   */
  public void pull(ObjectNode entry, Path target, LongConsumer progress) throws OciException {
    client.pullBlob(layerOf(entry), target, progress);
  }

  /**
   * As {@link #pull(ObjectNode, Path, LongConsumer)}, into {@code out}: on an exception the caller
   * discards what {@code out} received.
   */
  public void pull(ObjectNode entry, java.io.OutputStream out, LongConsumer progress)
      throws IOException {
    pull(entry, out, progress, size -> {});
  }

  /** As above, telling {@code size} the blob's length before its first byte. */
  public void pull(
      ObjectNode entry, java.io.OutputStream out, LongConsumer progress, LongConsumer size)
      throws IOException {
    Descriptor layer = layerOf(entry);
    size.accept(layer.size());
    client.pullBlob(layer, out, progress);
  }

  /** The layer of the image, once its manifest is checked and its parent's layer found. */
  private Descriptor layerOf(ObjectNode entry) throws OciException {
    String sha = entry.path("sha256").asText();
    RegistryClient.Manifest raw = client.getManifest(sha);
    ImageManifest m = ImageManifest.parse(raw.bytes(), where(sha));
    if (!isCanga(m, sha)) {
      throw new OciException(OciException.Kind.INVALID, where(sha) + ": not a canga image");
    }
    String parent = m.annotations().get(PARENT);
    if (parent != null) {
      Digest parentLayer;
      try {
        parentLayer = Digest.parse(m.annotations().get(PARENT_LAYER));
      } catch (IllegalArgumentException e) {
        throw new OciException(
            OciException.Kind.INVALID,
            where(sha) + ": annotation " + PARENT_LAYER + ": " + e.getMessage());
      }
      if (!client.blobExists(parentLayer)) {
        throw new OciException(
            OciException.Kind.NOT_FOUND,
            where(sha)
                + ": its parent "
                + parent
                + " (layer "
                + parentLayer
                + ") is missing from the registry");
      }
    }
    return m.layers().get(0);
  }
}
