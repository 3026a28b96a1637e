package dev.qcow2.tools.oci;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * An OCI image manifest ({@code application/vnd.oci.image.manifest.v1+json}, schema version 2): a
 * config descriptor, the layer descriptors in order, an optional {@code artifactType} and
 * annotations. {@link #toBytes} writes the fields in the specification's order with sorted
 * annotations, so equal manifests have equal digests.
 */
public record ImageManifest(
    String artifactType,
    Descriptor config,
    List<Descriptor> layers,
    Map<String, String> annotations) {
  public static final String MEDIA_TYPE = RegistryClient.OCI_MANIFEST;

  public ImageManifest {
    layers = List.copyOf(layers);
    annotations = Map.copyOf(annotations);
  }

  public byte[] toBytes() {
    ObjectNode n = JsonNodeFactory.instance.objectNode();
    n.put("schemaVersion", 2);
    n.put("mediaType", MEDIA_TYPE);
    if (artifactType != null) {
      n.put("artifactType", artifactType);
    }
    n.set("config", config.toJson());
    ArrayNode l = n.putArray("layers");
    layers.forEach(d -> l.add(d.toJson()));
    if (!annotations.isEmpty()) {
      ObjectNode a = n.putObject("annotations");
      new TreeMap<>(annotations).forEach(a::put);
    }
    try {
      return RegistryClient.JSON.writeValueAsBytes(n);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Reads an image manifest.
   *
   * @param where what it is, for messages ({@code oci://host/repo manifest tag})
   * @throws OciException (INVALID) when it is not an OCI image manifest
   */
  public static ImageManifest parse(byte[] bytes, String where) throws OciException {
    JsonNode n;
    try {
      n = RegistryClient.JSON.readTree(bytes);
    } catch (IOException e) {
      throw new OciException(OciException.Kind.INVALID, where + ": not JSON");
    }
    if (n == null || !n.isObject() || n.path("schemaVersion").asInt() != 2) {
      throw new OciException(
          OciException.Kind.INVALID, where + ": not a schema version 2 manifest");
    }
    String type = n.path("mediaType").asText(MEDIA_TYPE);
    if (!type.equals(MEDIA_TYPE)) {
      throw new OciException(
          OciException.Kind.INVALID, where + ": a " + type + ", not an OCI image manifest");
    }
    Descriptor config = Descriptor.fromJson(n.get("config"), where + " config");
    List<Descriptor> layers = new ArrayList<>();
    JsonNode l = n.path("layers");
    if (!l.isArray()) {
      throw new OciException(OciException.Kind.INVALID, where + ": no layers array");
    }
    for (int i = 0; i < l.size(); i++) {
      layers.add(Descriptor.fromJson(l.get(i), where + " layer " + i));
    }
    String artifact = n.hasNonNull("artifactType") ? n.get("artifactType").asText() : null;
    return new ImageManifest(
        artifact, config, layers, Descriptor.annotations(n.get("annotations")));
  }
}
