package dev.qcow2.tools.repo;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * A published repository folder served over HTTP(S), as Cangallo reads it: read-only. A pull
 * resumes an interrupted download with a range request ({@link VerifiedDownload}).
 */
final class HttpRemote implements Remote {
  private final URI base;
  private final HttpClient client;

  /**
   * @param url the repository's {@code url}; a missing final slash is added, so that {@code
   *     http://h/path/repo} means the folder {@code repo} (Cangallo's URI.join would drop it)
   */
  HttpRemote(String url) {
    this.base = URI.create(url.endsWith("/") ? url : url + "/");
    this.client =
        HttpClient.newBuilder()
            .followRedirects(HttpClient.Redirect.NORMAL)
            .connectTimeout(Duration.ofSeconds(30))
            .build();
  }

  @Override
  public String url() {
    return base.toString();
  }

  @Override
  public String fetchIndex() throws IOException {
    URI uri = base.resolve("index.yaml");
    HttpResponse<byte[]> r =
        send(HttpRequest.newBuilder(uri).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
    if (r.statusCode() != 200) {
      throw new IOException("GET " + uri + ": HTTP " + r.statusCode());
    }
    return new String(r.body(), StandardCharsets.UTF_8);
  }

  @Override
  public byte[] fetchOptional(String name) throws IOException {
    URI uri = base.resolve(name);
    HttpResponse<byte[]> r =
        send(HttpRequest.newBuilder(uri).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
    if (r.statusCode() == 404) {
      return null;
    }
    if (r.statusCode() != 200) {
      throw new IOException("GET " + uri + ": HTTP " + r.statusCode());
    }
    return r.body();
  }

  @Override
  public void pull(Repository repo, ImageEntry entry, PrintStream progress) throws IOException {
    URI uri = base.resolve(entry.sha256() + ".qcow2");
    VerifiedDownload.pull(repo, entry, (ch, p) -> download(uri, ch, p), progress);
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
      } else if (status == 206
          && have > 0
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
      VerifiedDownload.copy(in, ch, have, total, progress);
    }
  }

  private <T> HttpResponse<T> send(HttpRequest request, HttpResponse.BodyHandler<T> handler)
      throws IOException {
    try {
      return client.send(request, handler);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted: " + request.uri(), e);
    }
  }

  @Override
  public void close() {
    // HttpClient holds no resource that outlives its last request here.
  }
}
