package dev.qcow2.nbd;

import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;

/**
 * An image served on 127.0.0.1 at a free port for one test; closing stops the server, then closes
 * the image.
 */
final class Served implements AutoCloseable {
  final DiskImage image;
  final NbdServer server;

  private Served(DiskImage image, NbdServer server) {
    this.image = image;
    this.server = server;
  }

  static Served writable(Path file, ServerOptions.Builder options) throws IOException {
    return serve(Qcow2Image.open(file, OpenOptions.builder().writable(true).build()), options);
  }

  static Served readOnly(Path file, ServerOptions.Builder options) throws IOException {
    return serve(DiskImage.open(file), options.readOnly(true));
  }

  static Served serve(DiskImage image, ServerOptions.Builder options) throws IOException {
    try {
      NbdServer server =
          NbdServer.start(
              image,
              new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
              options.persistent(true).build());
      return new Served(image, server);
    } catch (IOException | RuntimeException e) {
      image.close();
      throw e;
    }
  }

  /** The NBD URI of the export, as libnbd and qemu take it. */
  String uri() {
    return "nbd://127.0.0.1:" + server.port() + "/";
  }

  String uri(String exportName) {
    return uri() + exportName;
  }

  @Override
  public void close() throws IOException {
    try (image) {
      server.close();
    }
  }
}
