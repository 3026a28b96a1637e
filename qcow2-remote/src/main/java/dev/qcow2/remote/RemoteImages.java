package dev.qcow2.remote;

import dev.qcow2.DiskImage;
import dev.qcow2.NotQcow2Exception;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.RawImage;
import dev.qcow2.Structure;
import dev.qcow2.UnsupportedImageException;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.Set;

/**
 * Opens images that live on a web server (and, through {@link RangeSources}, in other remote
 * stores) without downloading them: only the clusters a read needs are fetched. The format is
 * detected from the first bytes as for a local file. Backing files resolve against the image's URL
 * (RFC 3986) by {@link RemoteBacking}: within the image's own folder, never a local path.
 *
 * <pre>{@code
 * try (DiskImage disk = RemoteImages.open(URI.create("https://example.org/images/disk.qcow2"), OpenOptions.defaults())) {
 *   disk.read(buffer, offset);
 * }
 * }</pre>
 */
public final class RemoteImages {
  private RemoteImages() {}

  /**
   * Opens a remote qcow2 or raw image read-only, the format detected, with default remote options.
   */
  public static DiskImage open(URI uri, OpenOptions options) throws IOException {
    return open(uri, null, options, RemoteOptions.defaults());
  }

  /**
   * Opens a remote image read-only: qcow2 or raw detected when {@code format} is null; "qcow2"
   * requires qcow2; "raw" reads even a qcow2 image as its raw bytes (as qemu-img's {@code -f raw}).
   *
   * @throws IllegalArgumentException for writable options or an unknown format or scheme
   */
  public static DiskImage open(URI uri, String format, OpenOptions options, RemoteOptions remote)
      throws IOException {
    if (options.writable()) {
      throw new IllegalArgumentException(uri + ": a remote image is opened read-only");
    }
    if (format != null && !format.equals("qcow2") && !format.equals("raw")) {
      throw new IllegalArgumentException(
          uri + ": format \"" + format + "\" is not supported (qcow2 or raw)");
    }
    return open(uri, format, options, remote, 0, Set.of(uri.normalize()));
  }

  /** Opens one image of a chain, {@code depth} images below the one the user named. */
  static DiskImage open(
      URI uri, String format, OpenOptions options, RemoteOptions remote, int depth, Set<URI> chain)
      throws IOException {
    RemoteStorage storage = RemoteStorage.open(RangeSources.open(uri, remote), remote);
    boolean handedOver = false;
    try {
      DiskImage image;
      if ("raw".equals(format)) {
        image = raw(storage, options);
      } else {
        try {
          image =
              Qcow2Image.open(
                  storage.name(), storage, options, new RemoteBacking(uri, remote, depth, chain));
        } catch (NotQcow2Exception e) {
          if (format != null) {
            throw e;
          }
          image = raw(storage, options);
        }
      }
      handedOver = true;
      return image;
    } finally {
      if (!handedOver) {
        storage.close();
      }
    }
  }

  private static DiskImage raw(RemoteStorage storage, OpenOptions options) throws IOException {
    if (options.readsSnapshot()) {
      // As the library's detecting open of a local file.
      throw new UnsupportedOperationException(
          storage.name() + ": a raw image has no internal snapshots to read");
    }
    return RawImage.of(storage);
  }

  /**
   * The address of backing file {@code name} of the image at {@code image}: resolved against the
   * image's URL (RFC 3986), and refused unless it stays in the image's folder (or below it) on the
   * same server: an absolute path, a {@code ..} segment or a backslash is refused even when the
   * server has a file there. Protocol and JSON names never reach here (the core refuses them).
   */
  static URI resolveInFolder(URI image, String name) throws IOException {
    if ("s3".equalsIgnoreCase(image.getScheme())) {
      return resolveInBucketFolder(image, name);
    }
    String refusal = null;
    if (name.startsWith("/")) {
      refusal = "is an absolute path";
    } else if (name.contains("\\")) {
      refusal = "holds a backslash";
    } else if (("/" + name + "/").contains("/../")) {
      refusal = "holds a \"..\" segment";
    }
    URI target = null;
    if (refusal == null) {
      try {
        target = image.resolve(new URI(null, null, name, null));
      } catch (URISyntaxException e) {
        refusal = "is not a valid relative address";
      }
    }
    if (refusal == null) {
      String folder = folder(image.normalize());
      boolean same =
          target.getScheme().equalsIgnoreCase(image.getScheme())
              && target.getRawAuthority() != null
              && target.getRawAuthority().equalsIgnoreCase(image.getRawAuthority())
              && target.getRawPath().startsWith(folder);
      if (!same) {
        refusal = "resolves to " + target + ", outside the image's folder";
      }
    }
    if (refusal != null) {
      throw new UnsupportedImageException(
          image.toString(),
          Structure.BACKING_FILE_NAME,
          -1,
          "\""
              + name
              + "\" "
              + refusal
              + ": a remote image's backing file must lie in its own folder");
    }
    return target;
  }

  /** As {@link #resolveInFolder}, by S3's rule: the key's folder, names taken as written. */
  private static URI resolveInBucketFolder(URI image, String name) throws IOException {
    S3Location location = RangeSources.s3Location(image);
    S3Location target;
    try {
      target = location.resolve(name);
    } catch (IOException e) {
      throw new UnsupportedImageException(
          image.toString(),
          Structure.BACKING_FILE_NAME,
          -1,
          "\""
              + name
              + "\" does not stay inside "
              + location.folder()
              + ": a remote image's backing file must lie in its own folder");
    }
    return RangeSources.s3Uri(target.toString());
  }

  private static String folder(URI uri) {
    String path = uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath();
    return path.substring(0, path.lastIndexOf('/') + 1);
  }
}
