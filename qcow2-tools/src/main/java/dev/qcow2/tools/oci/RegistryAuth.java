package dev.qcow2.tools.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Answers a registry's {@code 401} challenges, as the distribution token specification describes.
 * {@code Basic}: the credentials go on every request. {@code Bearer}: a token is asked of the
 * challenge's {@code realm} with its {@code service} and {@code scope} (with the credentials as
 * Basic, or anonymously), and kept per scope until shortly before {@code expires_in} runs out.
 * Thread-safe.
 */
final class RegistryAuth {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int TOKEN_LIMIT = 1 << 20;

  /** The distribution spec's default lifetime when the token service gives none. */
  private static final long DEFAULT_EXPIRY_SECONDS = 60;

  private record Token(String value, Instant expires) {}

  private final HttpClient http;
  private final String registry;
  private final String repository;
  private final CredentialStore store;
  private final Duration timeout;
  private final Map<String, Token> tokens = new ConcurrentHashMap<>();
  private volatile boolean basic;
  private volatile Credentials credentials;
  private volatile boolean looked;

  /** Requests to the token service so far (tests check that tokens are reused). */
  private final AtomicInteger tokenRequests = new AtomicInteger();

  RegistryAuth(
      HttpClient http,
      String registry,
      String repository,
      CredentialStore store,
      Duration timeout) {
    this.http = http;
    this.registry = registry;
    this.repository = repository;
    this.store = store;
    this.timeout = timeout;
  }

  int tokenRequests() {
    return tokenRequests.get();
  }

  /** The Authorization header for a request needing {@code scope}, or null to go anonymous. */
  String header(String scope) throws OciException {
    Token t = tokens.get(scope);
    if (t != null && Instant.now().isBefore(t.expires())) {
      return "Bearer " + t.value();
    }
    if (basic) {
      Credentials c = credentials();
      return c == null ? null : c.basic();
    }
    return null;
  }

  /** Whether any credentials are configured for this registry. */
  boolean hasCredentials() throws OciException {
    return credentials() != null;
  }

  /**
   * Prepares the answer to a 401's challenge for requests needing {@code scope}.
   *
   * @throws OciException (UNAUTHORIZED) when the challenge cannot be answered
   */
  void answer(String wwwAuthenticate, String scope) throws OciException {
    if (wwwAuthenticate == null) {
      throw new OciException(
          OciException.Kind.UNAUTHORIZED,
          where() + ": HTTP 401 without a WWW-Authenticate challenge");
    }
    Challenge c = Challenge.parse(wwwAuthenticate);
    switch (c.scheme()) {
      case "basic" -> {
        if (credentials() == null) {
          throw new OciException(
              OciException.Kind.UNAUTHORIZED,
              where()
                  + ": the registry asks for credentials and none are configured (auth.json or ~/.docker/config.json)");
        }
        basic = true;
      }
      case "bearer" -> tokens.put(scope, fetchToken(c, scope));
      default ->
          throw new OciException(
              OciException.Kind.UNAUTHORIZED,
              where() + ": unsupported authentication scheme '" + c.scheme() + "'");
    }
  }

  private Token fetchToken(Challenge c, String scope) throws OciException {
    String realm = c.param("realm");
    if (realm == null || realm.isEmpty()) {
      throw new OciException(
          OciException.Kind.INVALID, where() + ": Bearer challenge without a realm");
    }
    StringBuilder q = new StringBuilder();
    if (c.param("service") != null) {
      q.append("service=").append(URLEncoder.encode(c.param("service"), StandardCharsets.UTF_8));
    }
    // The challenge names the scope the refused request needed; ours also asks for push when we
    // push.
    String wanted = c.param("scope") != null && !scope.contains(",push") ? c.param("scope") : scope;
    q.append(q.length() > 0 ? "&" : "")
        .append("scope=")
        .append(URLEncoder.encode(wanted, StandardCharsets.UTF_8));
    URI uri;
    try {
      uri = URI.create(realm + (realm.contains("?") ? "&" : "?") + q);
    } catch (IllegalArgumentException e) {
      throw new OciException(
          OciException.Kind.INVALID, where() + ": Bearer realm '" + realm + "' is not a URL");
    }
    HttpRequest.Builder req = HttpRequest.newBuilder(uri).timeout(timeout).GET();
    Credentials cred = credentials();
    if (cred != null) {
      req.header("Authorization", cred.basic());
    }
    tokenRequests.incrementAndGet();
    HttpResponse<byte[]> r;
    try {
      r = http.send(req.build(), HttpResponse.BodyHandlers.ofByteArray());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new OciException(
          OciException.Kind.UNAVAILABLE, "interrupted asking " + uri.getHost() + " for a token", e);
    } catch (IOException e) {
      throw new OciException(
          OciException.Kind.UNAVAILABLE,
          "token service " + uri.getHost() + ": " + e.getMessage(),
          e);
    }
    if (r.statusCode() == 401 || r.statusCode() == 403) {
      throw new OciException(
          OciException.Kind.UNAUTHORIZED,
          where()
              + ": the token service "
              + uri.getHost()
              + " refused "
              + (cred == null ? "anonymous access" : "the credentials of '" + cred.user() + "'")
              + " (HTTP "
              + r.statusCode()
              + ")");
    }
    if (r.statusCode() != 200 || r.body().length > TOKEN_LIMIT) {
      throw new OciException(
          OciException.Kind.UNAVAILABLE, "token service " + uri + ": HTTP " + r.statusCode());
    }
    try {
      JsonNode body = JSON.readTree(r.body());
      String token = body.path("token").asText(body.path("access_token").asText(""));
      if (token.isEmpty()) {
        throw new OciException(
            OciException.Kind.INVALID, "token service " + uri.getHost() + " gave no token");
      }
      long seconds = body.path("expires_in").asLong(DEFAULT_EXPIRY_SECONDS);
      // Renew ten seconds early so a token never expires between our check and the registry's.
      return new Token(token, Instant.now().plusSeconds(Math.max(0, seconds - 10)));
    } catch (IOException e) {
      throw new OciException(
          OciException.Kind.INVALID,
          "token service " + uri.getHost() + ": not JSON: " + e.getMessage(),
          e);
    }
  }

  private String where() {
    return "oci://" + registry + "/" + repository;
  }

  private Credentials credentials() throws OciException {
    if (!looked) {
      credentials = store.find(registry, repository);
      looked = true;
    }
    return credentials;
  }
}
