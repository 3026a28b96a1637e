package dev.qcow2.tools.oci;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Changes to the canga images of a registry repository after their push ({@link CangaArtifacts}):
 * tags moved or removed, images deleted.
 *
 * <p>Distribution removes a tag only by deleting the manifest it names, which takes every other tag
 * of that manifest with it. So a tag is removed by first storing a rewritten manifest (a new {@code
 * created}, the annotated tags changed) under the image's other tags, after which the old manifest
 * is named by the removed tag alone and can be deleted. The layer and config blobs stay (the
 * registry's garbage collection reclaims what nothing names).
 */
public final class CangaChanges {
  private final CangaArtifacts artifacts;
  private final RegistryClient client;

  public CangaChanges(CangaArtifacts artifacts) {
    this.artifacts = artifacts;
    this.client = artifacts.client();
  }

  /** Points {@code tag} at the image {@code sha256}, which the repository holds. */
  public void tag(CangaArtifacts.Listing listing, String tag, String sha256) throws OciException {
    ImageManifest m = manifestOf(sha256);
    if (CangaArtifacts.isRegistryTag(tag)) {
      client.putManifest(tag, client.getManifest(sha256).bytes(), ImageManifest.MEDIA_TYPE);
      return;
    }
    List<String> annotated = annotated(m);
    if (!annotated.contains(tag)) {
      annotated.add(tag);
    }
    // The newest manifest claiming an annotated tag wins it, so the rewrite also moves the tag.
    rewrite(listing, sha256, m, annotated, null);
  }

  /** Removes {@code tag}, a tag of the listing. */
  public void deltag(CangaArtifacts.Listing listing, String tag) throws OciException {
    String sha256 = listing.tags().get(tag);
    if (CangaArtifacts.isRegistryTag(tag)) {
      Digest old = client.manifestDigest(tag);
      ImageManifest m = manifestOf(sha256);
      rewrite(listing, sha256, m, annotated(m), tag);
      if (old != null && !old.equals(client.manifestDigest(sha256))) {
        client.deleteManifest(old);
      }
      return;
    }
    // Every image whose manifest claims the tag gives it up, or an older claim would surface.
    for (String sha : listing.images().keySet()) {
      ImageManifest m = manifestOf(sha);
      List<String> annotated = annotated(m);
      if (annotated.remove(tag)) {
        Digest old = client.manifestDigest(sha);
        rewrite(listing, sha, m, annotated, null);
        deleteQuietly(old);
      }
    }
  }

  /**
   * Deletes the manifests of the image {@code sha256} and so its registry tags; the caller has
   * checked that no image of the repository has it as parent.
   */
  public void delete(CangaArtifacts.Listing listing, String sha256) throws OciException {
    List<Digest> manifests = new ArrayList<>();
    for (Map.Entry<String, String> t : listing.tags().entrySet()) {
      if (t.getValue().equals(sha256) && CangaArtifacts.isRegistryTag(t.getKey())) {
        Digest d = client.manifestDigest(t.getKey());
        if (d != null && !manifests.contains(d)) {
          manifests.add(d);
        }
      }
    }
    // The sha256 tag last: until it goes, the image is still listed and a retry finds it.
    Digest own = client.manifestDigest(sha256);
    manifests.remove(own);
    for (Digest d : manifests) {
      client.deleteManifest(d);
    }
    if (own != null) {
      client.deleteManifest(own);
    }
  }

  private ImageManifest manifestOf(String sha256) throws OciException {
    ImageManifest m = artifacts.existing(sha256);
    if (m == null) {
      throw new OciException(
          OciException.Kind.NOT_FOUND, client.where() + ": no canga image " + sha256);
    }
    return m;
  }

  private static List<String> annotated(ImageManifest m) throws OciException {
    List<String> list = new ArrayList<>();
    String text = m.annotations().get(CangaArtifacts.TAGS);
    if (text == null) {
      return list;
    }
    try {
      RegistryClient.JSON.readTree(text).forEach(t -> list.add(t.asText()));
    } catch (IOException e) {
      throw new OciException(
          OciException.Kind.INVALID, "annotation " + CangaArtifacts.TAGS + " is not a JSON array");
    }
    return list;
  }

  /**
   * Stores the manifest of {@code sha256} with a new time and {@code annotated} as its annotated
   * tags under its sha256 and its registry tags, but for {@code dropped}.
   */
  private void rewrite(
      CangaArtifacts.Listing listing,
      String sha256,
      ImageManifest m,
      List<String> annotated,
      String dropped)
      throws OciException {
    Map<String, String> a = new LinkedHashMap<>(m.annotations());
    a.remove(CangaArtifacts.TAGS);
    a.remove(CangaArtifacts.CREATED);
    if (!annotated.isEmpty()) {
      ArrayNode arr = JsonNodeFactory.instance.arrayNode();
      annotated.forEach(arr::add);
      a.put(CangaArtifacts.TAGS, arr.toString());
    }
    a.put(CangaArtifacts.CREATED, Instant.now().toString());
    byte[] bytes = new ImageManifest(m.artifactType(), m.config(), m.layers(), a).toBytes();
    List<String> tags = new ArrayList<>(List.of(sha256));
    listing
        .tags()
        .forEach(
            (t, sha) -> {
              if (sha.equals(sha256) && CangaArtifacts.isRegistryTag(t) && !t.equals(dropped)) {
                tags.add(t);
              }
            });
    for (String t : tags) {
      client.putManifest(t, bytes, ImageManifest.MEDIA_TYPE);
    }
  }

  private void deleteQuietly(Digest d) {
    if (d == null) {
      return;
    }
    try {
      client.deleteManifest(d);
    } catch (OciException e) {
      // Only a leftover: no tag names it any more, so no listing sees it.
    }
  }
}
