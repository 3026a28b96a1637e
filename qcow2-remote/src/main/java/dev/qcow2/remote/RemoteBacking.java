package dev.qcow2.remote;

import dev.qcow2.BackingOpener;
import dev.qcow2.CorruptImageException;
import dev.qcow2.DiskImage;
import dev.qcow2.ImageLimitException;
import dev.qcow2.OpenOptions;
import dev.qcow2.Structure;
import dev.qcow2.UnsupportedImageException;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.HashSet;
import java.util.Set;

/**
 * Opens the backing file of one remote image: its name resolved against the image's URL within the
 * image's folder ({@link RemoteImages#resolveInFolder}), the chain bounded by the open options'
 * depth limit, and a name already in the chain refused as a loop.
 */
final class RemoteBacking implements BackingOpener {
  private final URI image;
  private final RemoteOptions remote;
  private final int depth;
  private final Set<URI> chain;

  RemoteBacking(URI image, RemoteOptions remote, int depth, Set<URI> chain) {
    this.image = image;
    this.remote = remote;
    this.depth = depth;
    this.chain = chain;
  }

  @Override
  public DiskImage open(String name, String format, OpenOptions options) throws IOException {
    URI target = RemoteImages.resolveInFolder(image, name);
    if (depth + 1 > options.maxChainDepth()) {
      throw new ImageLimitException(
          image.toString(),
          Structure.BACKING_CHAIN,
          -1,
          "is deeper than the limit of " + options.maxChainDepth() + " images");
    }
    Set<URI> next = new HashSet<>(chain);
    if (!next.add(target.normalize())) {
      throw new CorruptImageException(
          image.toString(),
          Structure.BACKING_CHAIN,
          -1,
          "loops: \"" + name + "\" is already in the chain");
    }
    if (format != null && !format.equals("qcow2") && !format.equals("raw")) {
      throw new UnsupportedImageException(
          image.toString(),
          Structure.HEADER_EXTENSION,
          -1,
          "backing format \"" + format + "\" is not supported (qcow2 or raw)");
    }
    return RemoteImages.open(target, format, options, remote, depth + 1, Set.copyOf(next));
  }

  @Override
  public String resolve(String name) {
    try {
      return image.resolve(new URI(null, null, name, null)).toString();
    } catch (URISyntaxException | IllegalArgumentException e) {
      return name;
    }
  }
}
