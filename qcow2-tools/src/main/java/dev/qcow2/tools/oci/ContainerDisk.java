package dev.qcow2.tools.oci;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.Comparator;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

/**
 * A KubeVirt containerDisk: a regular container image for linux/amd64 whose one layer (a gzip tar)
 * holds {@code disk/disk.qcow2}, owned by uid and gid 107 (qemu in KubeVirt's launcher), as {@code
 * ADD --chown=107:107 disk.qcow2 /disk/} would build it. The layer's entries carry a fixed time, so
 * one disk always gives one layer digest.
 *
 * <pre>
 * manifest  application/vnd.oci.image.manifest.v1+json
 * config    application/vnd.oci.image.config.v1+json  {architecture: amd64, os: linux, rootfs: {type: layers, diff_ids: [sha256 of the tar]}}
 * layer     application/vnd.oci.image.layer.v1.tar+gzip
 * </pre>
 */
public final class ContainerDisk {
  static final String CONFIG_TYPE = "application/vnd.oci.image.config.v1+json";
  static final String LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip";
  static final int QEMU_ID = 107;
  static final String DISK = "disk/disk.qcow2";

  private ContainerDisk() {}

  /**
   * Writes the image of {@code disk} (a qcow2 file with no backing file) to {@code target}.
   *
   * @param target where; its tag must be set
   * @param credentials for a registry target
   * @param insecure registries reached over plain HTTP
   * @return the manifest's digest
   */
  public static Digest export(
      Path disk, ContainerDiskTarget target, CredentialStore credentials, Set<String> insecure)
      throws IOException {
    if (target.tag() == null) {
      throw new IllegalArgumentException("no tag for " + target);
    }
    Path work = Files.createTempDirectory(tempParent(target), ".containerdisk-");
    try {
      Path layerFile = work.resolve("layer.tar.gz");
      Layer layer = writeLayer(disk, layerFile);
      byte[] config = config(layer.diffId());
      Descriptor configDescriptor = Descriptor.of(CONFIG_TYPE, config);
      ImageManifest manifest =
          new ImageManifest(null, configDescriptor, List.of(layer.descriptor()), Map.of());
      byte[] bytes = manifest.toBytes();
      if (target.registry() != null) {
        RegistryClient client = new RegistryClient(target.registry(), credentials, insecure);
        if (!client.blobExists(layer.descriptor().digest())) {
          client.pushBlob(layerFile, LAYER_TYPE, null);
        }
        client.pushBlob(config, CONFIG_TYPE);
        return client.putManifest(target.tag(), bytes, ImageManifest.MEDIA_TYPE);
      }
      Path layoutDir = target.archive() ? work.resolve("layout") : target.path();
      Files.createDirectories(layoutDir);
      OciLayout layout = new OciLayout(layoutDir);
      layout.putBlob(layer.descriptor().digest(), layerFile);
      layout.putBlob(configDescriptor.digest(), config);
      layout.putManifest(bytes, target.tag());
      if (target.archive()) {
        layout.archive(target.path());
      }
      return Digest.of(bytes);
    } finally {
      deleteTree(work);
    }
  }

  /**
   * Temporary files go beside a layout or archive (same file system for the final move), else to
   * /tmp.
   */
  private static Path tempParent(ContainerDiskTarget target) throws IOException {
    if (target.path() == null) {
      return Path.of(System.getProperty("java.io.tmpdir"));
    }
    Path parent = target.path().toAbsolutePath().getParent();
    Files.createDirectories(parent);
    return parent;
  }

  /** The layer's descriptor and the digest of its uncompressed tar (the config's diff_id). */
  record Layer(Descriptor descriptor, Digest diffId) {}

  static Layer writeLayer(Path disk, Path target) throws IOException {
    MessageDigest compressed = Digest.newSha256();
    MessageDigest tarDigest = Digest.newSha256();
    long size;
    try (OutputStream file = Files.newOutputStream(target);
        DigestOutputStream gzDigest = new DigestOutputStream(file, compressed);
        GZIPOutputStream gz =
            new GZIPOutputStream(gzDigest, 1 << 16) {
              {
                // Disk images are large and a qcow2 is often compressed already: speed over ratio.
                def.setLevel(Deflater.BEST_SPEED);
              }
            };
        DigestOutputStream plain = new DigestOutputStream(gz, tarDigest);
        TarArchiveOutputStream tar = new TarArchiveOutputStream(plain, 1 << 16)) {
      tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
      TarArchiveEntry dirEntry = new TarArchiveEntry("disk/");
      owned(dirEntry, 0755);
      tar.putArchiveEntry(dirEntry);
      tar.closeArchiveEntry();
      TarArchiveEntry fileEntry = new TarArchiveEntry(DISK);
      owned(fileEntry, 0644);
      fileEntry.setSize(Files.size(disk));
      tar.putArchiveEntry(fileEntry);
      try (InputStream in = Files.newInputStream(disk)) {
        in.transferTo(tar);
      }
      tar.closeArchiveEntry();
      tar.finish();
    }
    size = Files.size(target);
    return new Layer(new Descriptor(LAYER_TYPE, Digest.of(compressed), size), Digest.of(tarDigest));
  }

  private static void owned(TarArchiveEntry e, int mode) {
    e.setMode((e.isDirectory() ? 040000 : 0100000) | mode);
    e.setIds(QEMU_ID, QEMU_ID);
    e.setUserName("");
    e.setGroupName("");
    e.setModTime(new Date(0));
  }

  static byte[] config(Digest diffId) {
    ObjectNode n = JsonNodeFactory.instance.objectNode();
    n.put("architecture", "amd64");
    n.put("os", "linux");
    n.putObject("config");
    ObjectNode rootfs = n.putObject("rootfs");
    rootfs.put("type", "layers");
    rootfs.putArray("diff_ids").add(diffId.toString());
    try {
      return RegistryClient.JSON.writeValueAsBytes(n);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
