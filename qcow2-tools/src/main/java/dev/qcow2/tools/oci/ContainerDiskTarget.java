package dev.qcow2.tools.oci;

import java.nio.file.Path;

/**
 * Where a containerDisk goes, named as skopeo names images: {@code oci://HOST[:PORT]/NS/REPO[:TAG]}
 * (a registry), {@code oci:DIR[:TAG]} (an OCI image layout folder) or {@code
 * oci-archive:FILE[:TAG]} (a tar of such a folder). As in skopeo's {@code oci:} transports, the
 * path ends at the first colon; the tag may be absent (then the caller's default applies).
 *
 * @param registry the repository, for a registry target (else null)
 * @param path the folder or archive, for a layout target (else null)
 * @param archive whether {@code path} is a tar archive
 * @param tag the tag, or null
 */
public record ContainerDiskTarget(OciReference registry, Path path, boolean archive, String tag) {
  public ContainerDiskTarget {
    if (tag != null && !OciReference.isLegalTag(tag)) {
      throw new IllegalArgumentException("not a legal OCI tag: '" + tag + "'");
    }
  }

  public static ContainerDiskTarget parse(String ref) {
    if (ref.startsWith("oci://")) {
      OciReference r = OciReference.parse(ref);
      return new ContainerDiskTarget(r.withTag(null), null, false, r.tag());
    }
    boolean archive = ref.startsWith("oci-archive:");
    if (!archive && !ref.startsWith("oci:")) {
      throw new IllegalArgumentException(
          "'"
              + ref
              + "' is not oci://HOST[:PORT]/NAMESPACE/REPO[:TAG], oci:DIR[:TAG]"
              + " or oci-archive:FILE[:TAG]");
    }
    String rest = ref.substring(ref.indexOf(':') + 1);
    int colon = rest.indexOf(':');
    String path = colon < 0 ? rest : rest.substring(0, colon);
    String tag = colon < 0 || colon == rest.length() - 1 ? null : rest.substring(colon + 1);
    if (path.isEmpty()) {
      throw new IllegalArgumentException(
          "'" + ref + "' names no " + (archive ? "archive file" : "folder"));
    }
    return new ContainerDiskTarget(null, Path.of(path), archive, tag);
  }

  public ContainerDiskTarget withTag(String newTag) {
    return new ContainerDiskTarget(registry, path, archive, newTag);
  }

  @Override
  public String toString() {
    String t = tag == null ? "" : ":" + tag;
    return registry != null ? registry + t : (archive ? "oci-archive:" : "oci:") + path + t;
  }
}
