package dev.qcow2.tools.oci;

import java.util.List;
import java.util.Map;

/**
 * The detached gpg signature of a registry remote's index ({@code canga sign} on an {@code oci://}
 * remote), kept in the registry as an artifact of its own: a manifest tagged {@link #TAG} whose
 * config is the empty descriptor and whose one layer is the signature. The index it signs is the
 * one the registry's tags and manifests make ({@link CangaArtifacts#list}), which is the same bytes
 * for the same registry content; the listing skips this tag, which names no canga image.
 */
public final class IndexSignature {
  /** The tag of the signature's manifest (a name no canga image carries: it is no sha256). */
  public static final String TAG = "canga-index.yaml.sig";

  static final String ARTIFACT_TYPE = "application/vnd.qcow2.canga.index.signature.v1";
  static final String LAYER_TYPE = "application/pgp-signature";
  static final String EMPTY_TYPE = "application/vnd.oci.empty.v1+json";

  /** Far more than an armoured or binary gpg signature takes. */
  private static final int MAX_BYTES = 64 << 10;

  private final RegistryClient client;

  public IndexSignature(RegistryClient client) {
    this.client = client;
  }

  /** Stores {@code signature}, replacing the one there was. */
  public void store(byte[] signature) throws OciException {
    if (signature.length > MAX_BYTES) {
      throw new OciException(
          OciException.Kind.INVALID,
          client.where() + ": a signature of " + signature.length + " bytes is not a gpg one");
    }
    Descriptor config =
        client.pushBlob("{}".getBytes(java.nio.charset.StandardCharsets.UTF_8), EMPTY_TYPE);
    Descriptor layer = client.pushBlob(signature, LAYER_TYPE);
    ImageManifest m = new ImageManifest(ARTIFACT_TYPE, config, List.of(layer), Map.of());
    client.putManifest(TAG, m.toBytes(), ImageManifest.MEDIA_TYPE);
  }

  /** The stored signature, or null where there is none. */
  public byte[] fetch() throws OciException {
    if (client.manifestDigest(TAG) == null) {
      return null;
    }
    RegistryClient.Manifest raw = client.getManifest(TAG);
    String where = client.where() + " manifest " + TAG;
    ImageManifest m = ImageManifest.parse(raw.bytes(), where);
    if (!ARTIFACT_TYPE.equals(m.artifactType())
        || m.layers().size() != 1
        || m.layers().get(0).size() > MAX_BYTES) {
      throw new OciException(OciException.Kind.INVALID, where + ": not a canga index signature");
    }
    return client.fetchBlob(m.layers().get(0));
  }

  /** Removes the signature, after a change to the index it signed; false if there was none. */
  public boolean drop() throws OciException {
    Digest d = client.manifestDigest(TAG);
    return d != null && client.deleteManifest(d);
  }
}
