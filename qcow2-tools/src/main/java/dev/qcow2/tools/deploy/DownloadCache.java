package dev.qcow2.tools.deploy;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ProxySelector;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Map;
import java.util.Properties;
import java.util.function.LongConsumer;

/**
 * Downloads for deploy, kept in a cache folder: each URL's file under the sha256 of the URL, with a
 * small properties file beside it (url, size, sha256, time). A cached file is used while it is
 * younger than the maximum age and still has the size and digest recorded when it was fetched;
 * otherwise it is fetched again. Downloads go to a temporary file first, so a failed one never
 * replaces a good file.
 */
public final class DownloadCache {
  private final Path dir;
  private final int maxDays;
  private final HttpClient client;

  /**
   * @param proxy an http:// proxy URL, or null for the environment's (https_proxy, http_proxy)
   */
  public DownloadCache(Path dir, int maxDays, String proxy, Map<String, String> env) {
    this.dir = dir;
    this.maxDays = maxDays;
    HttpClient.Builder b =
        HttpClient.newBuilder()
            .followRedirects(HttpClient.Redirect.NORMAL)
            .connectTimeout(Duration.ofSeconds(30));
    String p = proxy;
    if (p == null) {
      p = firstSet(env, "https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY");
    }
    if (p != null && !p.isBlank()) {
      URI u = URI.create(p.contains("://") ? p : "http://" + p);
      b.proxy(
          ProxySelector.of(new InetSocketAddress(u.getHost(), u.getPort() < 0 ? 80 : u.getPort())));
    }
    this.client = b.build();
  }

  private static String firstSet(Map<String, String> env, String... names) {
    for (String n : names) {
      String v = env.get(n);
      if (v != null && !v.isBlank()) {
        return v;
      }
    }
    return null;
  }

  /** The local file for {@code url}: from the cache when still good, else downloaded now. */
  public Path get(String url, LongConsumer progress) throws IOException {
    Files.createDirectories(dir);
    String key = sha256(url.getBytes(StandardCharsets.UTF_8));
    Path file = dir.resolve(key);
    Path meta = dir.resolve(key + ".properties");
    if (isGood(file, meta, url)) {
      return file;
    }
    Path tmp = dir.resolve(key + ".part-" + ProcessHandle.current().pid());
    try {
      HttpRequest request = HttpRequest.newBuilder(URI.create(url)).GET().build();
      HttpResponse<InputStream> response;
      try {
        response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("download of " + url + " interrupted");
      }
      if (response.statusCode() != 200) {
        response.body().close();
        throw new IOException("download of " + url + " failed: HTTP " + response.statusCode());
      }
      MessageDigest md = digest();
      long size = 0;
      try (InputStream in = new DigestInputStream(response.body(), md);
          OutputStream out = Files.newOutputStream(tmp)) {
        byte[] buf = new byte[1 << 16];
        int n;
        while ((n = in.read(buf)) >= 0) {
          out.write(buf, 0, n);
          size += n;
          if (progress != null) {
            progress.accept(size);
          }
        }
      }
      long expected = response.headers().firstValueAsLong("content-length").orElse(-1);
      if (expected >= 0 && expected != size) {
        throw new IOException(
            "download of " + url + " is incomplete: " + size + " of " + expected + " bytes");
      }
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      Properties p = new Properties();
      p.setProperty("url", url);
      p.setProperty("size", Long.toString(size));
      p.setProperty("sha256", HexFormat.of().formatHex(md.digest()));
      p.setProperty("time", Instant.now().toString());
      try (OutputStream out = Files.newOutputStream(meta)) {
        p.store(out, "canga deploy download");
      }
      return file;
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  private boolean isGood(Path file, Path meta, String url) throws IOException {
    if (!Files.exists(file) || !Files.exists(meta)) {
      return false;
    }
    Properties p = new Properties();
    try (InputStream in = Files.newInputStream(meta)) {
      p.load(in);
    } catch (IllegalArgumentException e) {
      return false;
    }
    try {
      Instant fetched = Instant.parse(p.getProperty("time", ""));
      if (fetched.plus(Duration.ofDays(maxDays)).isBefore(Instant.now())) {
        return false;
      }
      if (!url.equals(p.getProperty("url"))
          || Files.size(file) != Long.parseLong(p.getProperty("size", "-1"))) {
        return false;
      }
    } catch (RuntimeException e) {
      return false;
    }
    MessageDigest md = digest();
    try (InputStream in = new DigestInputStream(Files.newInputStream(file), md)) {
      in.transferTo(OutputStream.nullOutputStream());
    }
    return HexFormat.of().formatHex(md.digest()).equals(p.getProperty("sha256"));
  }

  private static MessageDigest digest() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String sha256(byte[] b) {
    return HexFormat.of().formatHex(digest().digest(b));
  }
}
