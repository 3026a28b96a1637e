/**
 * OCI registries and image layouts for canga, over {@code java.net.http} and Jackson.
 *
 * <ul>
 *   <li>{@link dev.qcow2.tools.oci.RegistryClient}: one repository of a registry through the
 *       distribution specification's {@code /v2/} API (blobs, manifests, tags), with the
 *       credentials skopeo and podman use ({@link dev.qcow2.tools.oci.CredentialStore}).
 *   <li>{@link dev.qcow2.tools.oci.CangaArtifacts}: canga images as OCI artifacts, one image
 *       manifest per image; push, list (the index rebuilt from the registry) and pull.
 *   <li>{@link dev.qcow2.tools.oci.ContainerDisk}: a qcow2 file as a KubeVirt containerDisk in a
 *       registry, an OCI layout or an OCI archive.
 * </ul>
 *
 * Failures are {@link dev.qcow2.tools.oci.OciException}s whose message is one line. The package
 * uses nothing else of the tools, so that the repository code can use it.
 */
package dev.qcow2.tools.oci;
