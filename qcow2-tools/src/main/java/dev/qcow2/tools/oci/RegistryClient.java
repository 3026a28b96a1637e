package dev.qcow2.tools.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.function.LongConsumer;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A client of one repository of an OCI distribution registry (the distribution specification's
 * {@code /v2/} API): manifests, tags and the requests under blobs, which {@link BlobTransfer}
 * drives.
 *
 * <p>HTTPS, except for loopback hosts and the registries listed as insecure, which get plain HTTP.
 * Authentication answers the registry's challenges ({@link RegistryAuth}). Every request has a time
 * limit; idempotent requests are retried with a growing pause on 5xx answers and broken
 * connections. Failures are {@link OciException}s in one line. Thread-safe.
 */
public final class RegistryClient {
  static final ObjectMapper JSON = new ObjectMapper();
  static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
  static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
  private static final String ACCEPT_MANIFESTS =
      OCI_MANIFEST
          + ", "
          + OCI_INDEX
          + ", application/vnd.docker.distribution.manifest.v2+json"
          + ", application/vnd.docker.distribution.manifest.list.v2+json";

  /** Manifests and tag pages are small; a larger answer is refused rather than held in memory. */
  static final int DOCUMENT_LIMIT = 4 << 20;

  private static final int ATTEMPTS = 4;
  private static final int TAG_PAGES = 10_000;
  private static final Set<Integer> REDIRECTS = Set.of(301, 302, 303, 307, 308);
  private static final int MAX_REDIRECTS = 5;
  private static final Pattern NEXT_LINK = Pattern.compile("<([^>]+)>\\s*;[^,]*rel=\"?next\"?");

  private final OciReference repository;
  private final URI base;
  private final HttpClient http;
  private final RegistryAuth auth;
  private final Duration timeout;
  private final int tagPage;
  final BlobTransfer blobs;

  /**
   * @param repository the registry and repository (its tag is ignored)
   * @param credentials where credentials are looked up
   * @param insecure registries ({@code host} or {@code host:port}) reached over plain HTTP
   */
  public RegistryClient(
      OciReference repository, CredentialStore credentials, Set<String> insecure) {
    this(repository, credentials, insecure, Duration.ofSeconds(60), BlobTransfer.CHUNK, 1000);
  }

  /**
   * @param chunk the upload chunk size (also the largest monolithic upload)
   * @param tagPage how many tags to ask for per page
   */
  RegistryClient(
      OciReference repository,
      CredentialStore credentials,
      Set<String> insecure,
      Duration timeout,
      int chunk,
      int tagPage) {
    this.tagPage = tagPage;
    this.repository = repository.withTag(null);
    boolean plain =
        repository.isLoopback()
            || insecure.contains(repository.registry())
            || insecure.contains(repository.host());
    this.base = URI.create((plain ? "http://" : "https://") + repository.registry() + "/v2/");
    this.timeout = timeout;
    this.http =
        HttpClient.newBuilder()
            .followRedirects(HttpClient.Redirect.NEVER)
            .connectTimeout(Duration.ofSeconds(30))
            .build();
    this.auth =
        new RegistryAuth(
            http, repository.registry(), repository.repository(), credentials, timeout);
    this.blobs = new BlobTransfer(this, chunk);
  }

  /** The repository this client talks to, without a tag. */
  public OciReference repository() {
    return repository;
  }

  /** A manifest as the registry holds it: its exact bytes, its media type and its digest. */
  public record Manifest(byte[] bytes, String mediaType, Digest digest) {}

  // ---- blobs (the transfers live in BlobTransfer)

  /** Whether the repository has the blob ({@code HEAD}). */
  public boolean blobExists(Digest digest) throws OciException {
    HttpResponse<InputStream> r =
        send("HEAD", path("blobs/" + digest), null, null, false, true, "blob " + digest);
    close(r);
    if (r.statusCode() == 404) {
      return false;
    }
    expect(r, 200, "blob " + digest);
    return true;
  }

  /**
   * Asks the registry to link a blob it holds in {@code fromRepository} into this repository
   * without sending it (cross-repository mount). A registry that will not mount answers with an
   * upload session instead, which is cancelled.
   *
   * @return whether the blob is now in this repository
   */
  public boolean mountBlob(Digest digest, String fromRepository) throws OciException {
    URI uri = path("blobs/uploads/?mount=" + digest + "&from=" + fromRepository);
    HttpResponse<InputStream> r =
        send("POST", uri, null, null, true, false, "mount of blob " + digest);
    close(r);
    if (r.statusCode() == 201) {
      return true;
    }
    expect(r, 202, "mount of blob " + digest);
    String session = r.headers().firstValue("Location").orElse(null);
    if (session != null) {
      close(send("DELETE", resolve(session), null, null, true, false, "cancel of an upload"));
    }
    return false;
  }

  /** Stores {@code bytes} as a blob unless the registry has it; returns its descriptor. */
  public Descriptor pushBlob(byte[] bytes, String mediaType) throws OciException {
    return blobs.push(bytes, mediaType);
  }

  /**
   * Stores the file as a blob, its sha256 computed while it is sent (monolithic when it fits in one
   * chunk, else chunked {@code PATCH}es); returns its descriptor.
   *
   * @param progress told the bytes sent so far, or null
   */
  public Descriptor pushBlob(Path file, String mediaType, LongConsumer progress)
      throws OciException {
    return blobs.push(file, mediaType, progress);
  }

  /**
   * Downloads the blob into {@code target}, which appears only once the bytes hash to the
   * descriptor's digest and have its size; otherwise nothing is left behind.
   */
  public void pullBlob(Descriptor blob, Path target, LongConsumer progress) throws OciException {
    blobs.pull(blob, target, progress);
  }

  /**
   * Writes the blob to {@code out}, verified against its size and digest at the end: on an
   * exception the caller must discard what {@code out} received.
   */
  public void pullBlob(Descriptor blob, java.io.OutputStream out, LongConsumer progress)
      throws IOException {
    blobs.copy(blob, out, progress);
  }

  /** A small blob (a config), in memory, verified against its digest. */
  public byte[] fetchBlob(Descriptor blob) throws OciException {
    return blobs.fetch(blob);
  }

  // ---- manifests and tags

  /**
   * Stores a manifest under {@code reference} (a tag or its digest).
   *
   * @return the manifest's digest
   */
  public Digest putManifest(String reference, byte[] body, String mediaType) throws OciException {
    HttpResponse<InputStream> r =
        send(
            "PUT",
            path("manifests/" + reference),
            mediaType,
            () -> HttpRequest.BodyPublishers.ofByteArray(body),
            true,
            true,
            "manifest " + reference);
    expect(r, 201, "manifest " + reference);
    close(r);
    return Digest.of(body);
  }

  /**
   * Deletes the manifest {@code digest} and so every tag that names it (distribution deletes tags
   * only this way).
   *
   * @return false if the registry had no such manifest
   */
  public boolean deleteManifest(Digest digest) throws OciException {
    HttpResponse<InputStream> r =
        send(
            "DELETE",
            path("manifests/" + digest),
            null,
            null,
            true,
            true,
            "deletion of manifest " + digest);
    if (r.statusCode() == 404) {
      close(r);
      return false;
    }
    expect(r, 202, "deletion of manifest " + digest);
    close(r);
    return true;
  }

  /** The manifest {@code reference} (a tag or a digest) names; a digest reference is verified. */
  public Manifest getManifest(String reference) throws OciException {
    HttpResponse<InputStream> r =
        send(
            "GET",
            path("manifests/" + reference),
            null,
            null,
            false,
            true,
            "manifest " + reference);
    expect(r, 200, "manifest " + reference);
    byte[] body = readLimited(r, DOCUMENT_LIMIT, "manifest " + reference);
    Digest digest = Digest.of(body);
    if (reference.startsWith("sha256:") && !digest.toString().equals(reference)) {
      throw new OciException(
          OciException.Kind.DIGEST_MISMATCH,
          where() + ": manifest " + reference + " has digest " + digest);
    }
    String type = r.headers().firstValue("Content-Type").orElse("");
    JsonNode declared;
    try {
      declared = JSON.readTree(body).path("mediaType");
    } catch (IOException e) {
      throw new OciException(
          OciException.Kind.INVALID, where() + ": manifest " + reference + " is not JSON");
    }
    return new Manifest(body, declared.isTextual() ? declared.asText() : type, digest);
  }

  /**
   * The digest of the manifest {@code reference} names, or null if there is none ({@code HEAD}).
   */
  public Digest manifestDigest(String reference) throws OciException {
    HttpResponse<InputStream> r =
        send(
            "HEAD",
            path("manifests/" + reference),
            null,
            null,
            false,
            true,
            "manifest " + reference);
    close(r);
    if (r.statusCode() == 404) {
      return null;
    }
    expect(r, 200, "manifest " + reference);
    String d = r.headers().firstValue("Docker-Content-Digest").orElse(null);
    if (d == null) {
      return getManifest(reference).digest();
    }
    try {
      return Digest.parse(d);
    } catch (IllegalArgumentException e) {
      throw new OciException(
          OciException.Kind.INVALID, where() + ": manifest " + reference + ": " + e.getMessage());
    }
  }

  /** Every tag of the repository, following the {@code Link} header's pages. */
  public List<String> tags() throws OciException {
    List<String> all = new ArrayList<>();
    URI next = path("tags/list?n=" + tagPage);
    for (int page = 0; next != null; page++) {
      if (page == TAG_PAGES) {
        throw new OciException(
            OciException.Kind.INVALID, where() + ": more than " + TAG_PAGES + " pages of tags");
      }
      HttpResponse<InputStream> r = send("GET", next, null, null, false, true, "tag list");
      expect(r, 200, "tag list");
      byte[] body = readLimited(r, DOCUMENT_LIMIT, "tag list");
      try {
        JsonNode tags = JSON.readTree(body).path("tags");
        for (JsonNode t : tags) {
          all.add(t.asText());
        }
      } catch (IOException e) {
        throw new OciException(OciException.Kind.INVALID, where() + ": the tag list is not JSON");
      }
      next = nextPage(r.headers().firstValue("Link").orElse(null));
    }
    return all;
  }

  private URI nextPage(String link) {
    if (link == null) {
      return null;
    }
    Matcher m = NEXT_LINK.matcher(link);
    return m.find() ? base.resolve(m.group(1)) : null;
  }

  // ---- requests

  URI path(String rest) {
    return base.resolve(repository.repository() + "/" + rest);
  }

  URI resolve(String location) {
    return base.resolve(location);
  }

  /** {@code oci://host/repo}, the prefix of every message. */
  String where() {
    return repository.toString();
  }

  Duration timeout() {
    return timeout;
  }

  /** The answers to our token requests (tests check that tokens are cached). */
  int tokenRequests() {
    return auth.tokenRequests();
  }

  /**
   * Sends one request, answering a 401 challenge once, retrying idempotent requests on 5xx and
   * broken connections. Answers other than 401 are returned for the caller to judge.
   *
   * @param push whether the request needs the push scope
   * @param retry whether the request may be sent again (not for upload steps: the whole upload
   *     restarts)
   */
  HttpResponse<InputStream> send(
      String method,
      URI uri,
      String contentType,
      Supplier<HttpRequest.BodyPublisher> body,
      boolean push,
      boolean retry,
      String what)
      throws OciException {
    String scope = "repository:" + repository.repository() + (push ? ":pull,push" : ":pull");
    boolean answered = false;
    for (int attempt = 1; ; attempt++) {
      HttpResponse<InputStream> r;
      try {
        r = exchange(method, uri, contentType, body, auth.header(scope));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new OciException(
            OciException.Kind.UNAVAILABLE, where() + ": interrupted during " + what, e);
      } catch (IOException e) {
        if (retry && attempt < ATTEMPTS) {
          pause(attempt);
          continue;
        }
        throw new OciException(
            OciException.Kind.UNAVAILABLE,
            where()
                + ": cannot reach the registry for "
                + what
                + ": "
                + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()),
            e);
      }
      if (r.statusCode() == 401 && !answered) {
        close(r);
        auth.answer(r.headers().firstValue("WWW-Authenticate").orElse(null), scope);
        answered = true;
        attempt--;
        continue;
      }
      if (r.statusCode() >= 500 && retry && attempt < ATTEMPTS) {
        close(r);
        pause(attempt);
        continue;
      }
      return r;
    }
  }

  /**
   * One request, following the redirects of a GET or HEAD (registries send blob downloads to a
   * storage host) a bounded number of times, never from HTTPS to HTTP, and without our credentials
   * once the host changes: a storage host has its own signed URL.
   */
  private HttpResponse<InputStream> exchange(
      String method,
      URI uri,
      String contentType,
      Supplier<HttpRequest.BodyPublisher> body,
      String authorization)
      throws IOException, InterruptedException {
    URI at = uri;
    for (int hop = 0; ; hop++) {
      HttpRequest.Builder req =
          HttpRequest.newBuilder(at)
              .timeout(timeout)
              .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : body.get());
      if (contentType != null) {
        req.header("Content-Type", contentType);
      }
      boolean read = method.equals("GET") || method.equals("HEAD");
      if (read) {
        req.header("Accept", ACCEPT_MANIFESTS + ", */*");
      }
      if (authorization != null && Objects.equals(at.getRawAuthority(), uri.getRawAuthority())) {
        req.header("Authorization", authorization);
      }
      HttpResponse<InputStream> r = http.send(req.build(), TimedBody.handler(timeout));
      String location = r.headers().firstValue("Location").orElse(null);
      if (!read || location == null || !REDIRECTS.contains(r.statusCode())) {
        return r;
      }
      close(r);
      if (hop == MAX_REDIRECTS) {
        throw new IOException("more than " + MAX_REDIRECTS + " redirects from " + uri);
      }
      URI next = at.resolve(location);
      if (at.getScheme().equals("https") && !"https".equals(next.getScheme())) {
        throw new IOException("refused redirect from HTTPS to " + next.getScheme() + ": " + next);
      }
      at = next;
    }
  }

  private static void pause(int attempt) throws OciException {
    try {
      Thread.sleep(250L << attempt);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new OciException(OciException.Kind.UNAVAILABLE, "interrupted", e);
    }
  }

  /** Turns any answer but {@code status} into its one-line error. */
  void expect(HttpResponse<InputStream> r, int status, String what) throws OciException {
    if (r.statusCode() == status) {
      return;
    }
    String detail = errorDetail(r);
    close(r);
    int s = r.statusCode();
    switch (s) {
      case 401 ->
          throw new OciException(
              OciException.Kind.UNAUTHORIZED,
              where()
                  + ": "
                  + (hasCredentials()
                      ? "the registry refused the credentials"
                      : "the registry needs credentials")
                  + " for "
                  + what
                  + " (HTTP 401"
                  + detail
                  + ")");
      case 403 ->
          throw new OciException(
              OciException.Kind.DENIED,
              where() + ": access to " + what + " denied (HTTP 403" + detail + ")");
      case 404 ->
          throw new OciException(
              OciException.Kind.NOT_FOUND,
              where()
                  + ": "
                  + (detail.contains("NAME_UNKNOWN") ? "no such repository" : what + " not found")
                  + " (HTTP 404"
                  + detail
                  + ")");
      default ->
          throw new OciException(
              s >= 500 ? OciException.Kind.UNAVAILABLE : OciException.Kind.INVALID,
              where() + ": " + what + ": HTTP " + s + detail);
    }
  }

  private boolean hasCredentials() {
    try {
      return auth.hasCredentials();
    } catch (OciException e) {
      return false;
    }
  }

  /**
   * ", CODE: message" from the registry's error body ({@code {"errors":[{code,message}]}}), or "".
   */
  private static String errorDetail(HttpResponse<InputStream> r) {
    try {
      byte[] body = readLimited(r, 64 << 10, "error");
      JsonNode first = JSON.readTree(body).path("errors").path(0);
      if (first.isMissingNode()) {
        return "";
      }
      return ", " + first.path("code").asText() + ": " + first.path("message").asText();
    } catch (IOException | RuntimeException e) {
      return "";
    }
  }

  static byte[] readLimited(HttpResponse<InputStream> r, int limit, String what)
      throws OciException {
    try (InputStream in = r.body()) {
      byte[] bytes = in.readNBytes(limit + 1);
      if (bytes.length > limit) {
        throw new OciException(
            OciException.Kind.INVALID, what + ": answer larger than " + limit + " bytes");
      }
      return bytes;
    } catch (OciException e) {
      throw e;
    } catch (IOException e) {
      throw new OciException(OciException.Kind.UNAVAILABLE, what + ": " + e.getMessage(), e);
    }
  }

  static void close(HttpResponse<InputStream> r) {
    try {
      r.body().close();
    } catch (IOException e) {
      // Nothing is left to read from an answer we are done with.
    }
  }
}
