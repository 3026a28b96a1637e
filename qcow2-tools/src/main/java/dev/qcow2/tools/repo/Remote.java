package dev.qcow2.tools.repo;

import dev.qcow2.DiskImage;
import dev.qcow2.hash.ContentHasher;
import dev.qcow2.hash.HashAlgorithm;
import dev.qcow2.tools.cli.ProgressBar;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;

/**
 * A remote repository: a published repository folder served over HTTP(S). {@link #fetchIndex}
 * downloads {@code index.yaml}; {@link #pull} downloads one image file into the local cache.
 *
 * <p>A pull writes {@code <sha256>.qcow2.part} under a file lock, resumes an interrupted download
 * with a range request, and renames the file into place only after it is verified: the content
 * hash of the disk (through its already present parents) must be the image's sha256. A failed or
 * corrupt download never replaces or creates {@code <sha256>.qcow2}.
 */
public final class Remote {
  private final URI base;
  private final HttpClient client;

  /**
   * @param url the repository's {@code url}; a missing final slash is added, so that {@code
   *     http://h/path/repo} means the folder {@code repo} (Cangallo's URI.join would drop it)
   */
  public Remote(String url) {
    this.base = URI.create(url.endsWith("/") ? url : url + "/");
    this.client = HttpClient.newBuilder()
        .followRedirects(HttpClient.Redirect.NORMAL)
        .connectTimeout(Duration.ofSeconds(30))
        .build();
  }

  public URI resolve(String name) {
    return base.resolve(name);
  }

  /** The text of the remote {@code index.yaml}. */
  public String fetchIndex() throws IOException {
    URI uri = resolve("index.yaml");
    HttpResponse<byte[]> r = send(HttpRequest.newBuilder(uri).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
    if (r.statusCode() != 200) {
      throw new IOException("GET " + uri + ": HTTP " + r.statusCode());
    }
    return new String(r.body(), StandardCharsets.UTF_8);
  }

  /** The bytes of {@code name} under the repository URL, or null if the server has none (404). */
  public byte[] fetchOptional(String name) throws IOException {
    URI uri = resolve(name);
    HttpResponse<byte[]> r = send(HttpRequest.newBuilder(uri).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
    if (r.statusCode() == 404) {
      return null;
    }
    if (r.statusCode() != 200) {
      throw new IOException("GET " + uri + ": HTTP " + r.statusCode());
    }
    return r.body();
  }

  /**
   * Downloads the file of {@code entry} into {@code repo} unless it is already there.
   *
   * @param progress where the progress bar is drawn
   */
  public void pull(Repository repo, ImageEntry entry, PrintStream progress) throws IOException {
    String sha = entry.sha256();
    Path target = repo.imagePath(sha);
    Path part = repo.dir().resolve(sha + ".qcow2.part");
    try (FileChannel ch = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
      // Released when the channel closes; one pull of this file at a time across processes.
      FileLock lock = ch.lock();
      assert lock.isValid();
      if (Files.exists(target)) {
        Files.deleteIfExists(part);
        return; // another process pulled it while we waited
      }
      // An interrupted transfer leaves the part file for a range request next time.
      download(resolve(sha + ".qcow2"), ch, progress);
      ch.force(true);
      try {
        verify(entry, part);
      } catch (IOException | RuntimeException e) {
        Files.deleteIfExists(part);
        throw e;
      }
      IndexWriter.moveDurably(part, target);
    }
  }

  private void download(URI uri, FileChannel ch, PrintStream progress) throws IOException {
    long have = ch.size();
    HttpRequest.Builder req = HttpRequest.newBuilder(uri).GET();
    if (have > 0) {
      req.header("Range", "bytes=" + have + "-");
    }
    HttpResponse<InputStream> r = send(req.build(), HttpResponse.BodyHandlers.ofInputStream());
    int status = r.statusCode();
    try (InputStream in = r.body()) {
      long total;
      if (status == 416 && have > 0) {
        return; // already complete: verification decides
      } else if (status == 206 && have > 0
          && r.headers().firstValue("Content-Range").orElse("").startsWith("bytes " + have + "-")) {
        total = have + r.headers().firstValueAsLong("Content-Length").orElse(-1);
        ch.position(have);
      } else if (status == 200) {
        ch.truncate(0);
        ch.position(0);
        have = 0;
        total = r.headers().firstValueAsLong("Content-Length").orElse(-1);
      } else {
        throw new IOException("GET " + uri + ": HTTP " + status);
      }
      copy(in, ch, have, total, progress);
    }
  }

  private static void copy(InputStream in, FileChannel ch, long have, long total, PrintStream progress)
      throws IOException {
    ProgressBar bar = total > 0 ? new ProgressBar(progress, total) : null;
    OutputStream out = Channels.newOutputStream(ch);
    byte[] buf = new byte[1 << 16];
    long done = have;
    int n;
    while ((n = in.read(buf)) > 0) {
      out.write(buf, 0, n);
      done += n;
      if (bar != null) {
        bar.accept(done);
      }
    }
    out.flush();
    if (bar != null) {
      bar.finish();
    }
  }

  /**
   * Checks a downloaded file: the sha256 of its bytes is compared with {@code file-sha256} (equal
   * for images stored verbatim; Cangallo records the hash of the file given to {@code add}, so for
   * converted images it differs by design), and the content hash of the disk must be the image id.
   */
  static void verify(ImageEntry entry, Path part) throws IOException {
    String sha = entry.sha256();
    String fileSha = ContentHasher.hashFile(part, HashAlgorithm.SHA256).hex();
    if (fileSha.equals(entry.fileSha256()) && fileSha.equals(sha)) {
      return; // a verbatim raw image: its bytes are its content
    }
    String content;
    try (DiskImage image = DiskImage.open(part)) {
      content = ContentHasher.hash(image, HashAlgorithm.SHA256, Runtime.getRuntime().availableProcessors(), null).hex();
    } catch (IOException e) {
      throw new CangaException("Downloaded file of " + sha + " is not a valid image: " + e.getMessage());
    }
    if (!content.equals(sha)) {
      throw new CangaException("Downloaded file of " + sha + " is corrupt: its content sha256 is " + content);
    }
  }

  private <T> HttpResponse<T> send(HttpRequest request, HttpResponse.BodyHandler<T> handler) throws IOException {
    try {
      return client.send(request, handler);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted: " + request.uri(), e);
    }
  }
}
