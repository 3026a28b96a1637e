package dev.qcow2.tools.canga;

import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.nbd.ServerOptions;
import dev.qcow2.nbd.Serving;
import dev.qcow2.remote.RemoteImages;
import dev.qcow2.remote.RemoteOptions;
import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.Repositories;
import dev.qcow2.tools.repo.Repository;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code canga serve}: a repository image (read-only) or an instance (writable) over NBD, as {@code
 * qcow2 serve} serves a file. An image of a remote repository that was not pulled is read lazily
 * from the repository's http(s) URL.
 */
@Command(
    name = "serve",
    description = "serve an image (read-only) or an instance (writable) over NBD")
final class NbdServeCommand extends CangaCommand {
  @Parameters(index = "0", paramLabel = "IMAGE|INSTANCE")
  String what;

  @Option(
      names = {"-p", "--port"},
      paramLabel = "PORT",
      description = "TCP port to listen on (default 10809; 0 for any free port).")
  Integer port;

  @Option(
      names = {"-b", "--bind"},
      paramLabel = "ADDR",
      description = "Address to listen on (default: loopback).")
  String bind;

  @Option(
      names = {"-e", "--shared"},
      paramLabel = "NUM",
      description = "Clients served at once; 0 for no limit (default 1).")
  int shared = 1;

  @Option(
      names = {"-t", "--persistent"},
      description = "Keep serving when the last client leaves.")
  boolean persistent;

  @Override
  int run() throws Exception {
    boolean writable;
    DiskImage image;
    try {
      Path file = StoreCommands.instancePath(StoreCommands.instanceRepo(this, what), what);
      image = Qcow2Image.open(file, OpenOptions.builder().writable(true).build());
      writable = true;
    } catch (CangaException notInstance) {
      image = repositoryImage();
      writable = false;
    }
    InetSocketAddress address;
    ServerOptions options;
    try {
      address = Serving.tcpAddress(bind, port, false);
      options =
          ServerOptions.builder()
              .exportName(what)
              .readOnly(!writable)
              .maxConnections(shared)
              .persistent(persistent)
              .build();
    } catch (IllegalArgumentException e) {
      image.close();
      throw new CangaException(e.getMessage());
    } catch (IOException | RuntimeException e) {
      image.close();
      throw e;
    }
    Serving serving =
        Serving.start(
            image,
            address,
            options,
            e -> {
              err().print("canga: " + what + ": " + e.getMessage() + "\n");
              err().flush();
            },
            () -> {});
    out().print(uri(serving.server().address()) + "\n");
    out().flush();
    return serving.await() ? 0 : 1;
  }

  /** A repository image: its file, or, not pulled, its copy on the repository's web server. */
  private DiskImage repositoryImage() throws IOException {
    Repositories.Found found = repos().find(what);
    if (found == null) {
      throw new CangaException("Neither an instance nor an image: " + what);
    }
    Repository repo = found.repo();
    Path file = repo.imagePath(found.sha256());
    if (Files.exists(file)) {
      return Qcow2Image.open(file, OpenOptions.defaults());
    }
    String url = repo.settings().url();
    if (url == null || !(url.startsWith("http://") || url.startsWith("https://"))) {
      throw new CangaException(
          "Image "
              + found.displayName()
              + " is not downloaded and its repository has no "
              + "http(s) url to read it from: canga pull "
              + what);
    }
    URI remote = URI.create(url.endsWith("/") ? url : url + "/").resolve(found.sha256() + ".qcow2");
    return RemoteImages.open(remote, "qcow2", OpenOptions.defaults(), RemoteOptions.defaults());
  }

  /** The URI clients use: nbd://HOST:PORT/EXPORT. */
  private String uri(java.net.SocketAddress address) {
    InetSocketAddress inet = (InetSocketAddress) address;
    try {
      return new URI(
              "nbd",
              null,
              inet.getAddress().getHostAddress(),
              inet.getPort(),
              "/" + what,
              null,
              null)
          .toASCIIString();
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }
}
