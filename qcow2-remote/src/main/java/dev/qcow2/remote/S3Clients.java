package dev.qcow2.remote;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.Collection;
import java.util.Map;
import java.util.Optional;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.retry.RetryMode;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.S3Configuration;

/**
 * Builds the S3 clients: configured as the AWS tools are, from the environment, with the AWS SDK
 * for Java 2.x and its light {@code HttpURLConnection} transport.
 *
 * <ul>
 *   <li>Credentials: see {@link S3Credentials} (the default chain's local sources, IMDS only on
 *       EC2, anonymous when there are none).
 *   <li>Region: {@code AWS_REGION}, else {@code AWS_DEFAULT_REGION}, else the profile's {@code
 *       region}, else {@code us-east-1}. With no endpoint set, cross-region access is on, so a
 *       bucket in another region is still found (the SDK follows S3's redirect).
 *   <li>Endpoint: {@code AWS_ENDPOINT_URL_S3}, else {@code AWS_ENDPOINT_URL} (MinIO, Ceph RGW,
 *       s3proxy), then with path-style requests, which those stores expect, and request checksums
 *       and response validation only where S3 requires them: s3proxy answers NotImplemented to the
 *       flexible checksums newer SDKs send by default.
 *   <li>{@code AWS_CA_BUNDLE}: a PEM file whose certificates are the only ones trusted for TLS (not
 *       read for an {@code http://} endpoint, which makes no TLS handshake), as the AWS CLI does
 *       (the Java SDK does not read this variable).
 *   <li>Bounded waits: 10 s to connect, 60 s of silence on a socket, the SDK's standard retry mode
 *       (3 attempts in all, with backoff, on 5xx, throttling and connection failures).
 * </ul>
 *
 * <p>The shared client is built on first use, so that a command that never names an {@code s3://}
 * object loads no SDK class. S3 clients are thread-safe.
 */
public final class S3Clients {
  private S3Clients() {}

  /** Built on first use; a field of an SDK type loads no SDK class until it is set. */
  private static S3Client shared;

  /**
   * The client configured from the process environment, built on the first call.
   *
   * @throws IOException when the environment's S3 settings are wrong (an endpoint that is not a
   *     URL, a CA bundle that cannot be read); every call says so again
   */
  public static synchronized S3Client shared() throws IOException {
    if (shared == null) {
      shared = create(System.getenv());
    }
    return shared;
  }

  /** Makes {@code client} the shared one (the tests' server, a counting wrapper); null resets. */
  static synchronized void share(S3Client client) {
    shared = client;
  }

  /**
   * A new client configured from {@code env}, read as the process environment would be. The caller
   * closes it.
   */
  public static S3Client create(Map<String, String> env) throws IOException {
    Optional<URI> endpoint = endpoint(env);
    UrlConnectionHttpClient.Builder http =
        UrlConnectionHttpClient.builder()
            .connectionTimeout(Duration.ofSeconds(10))
            .socketTimeout(Duration.ofSeconds(60));
    // An http:// endpoint never makes a TLS handshake, so its client does not parse AWS_CA_BUNDLE
    // (0.14 s for Debian's); the JDK's own trust is loaded at a first handshake only.
    String caBundle = env.get("AWS_CA_BUNDLE");
    boolean plain = endpoint.isPresent() && "http".equals(endpoint.get().getScheme());
    TrustManager[] trust =
        S3Credentials.notBlank(caBundle) && !plain
            ? trustManagers(Path.of(caBundle))
            : new TrustManager[] {new LazyTrust(LazyTrust::jdkDefault)};
    http.tlsTrustManagersProvider(() -> trust);
    S3ClientBuilder builder =
        S3Client.builder()
            .httpClientBuilder(http)
            .credentialsProvider(S3Credentials.provider(env))
            .region(region(env))
            .overrideConfiguration(c -> c.retryStrategy(RetryMode.STANDARD));
    if (endpoint.isPresent()) {
      builder
          .endpointOverride(endpoint.get())
          .forcePathStyle(true)
          .serviceConfiguration(S3Configuration.builder().chunkedEncodingEnabled(false).build())
          .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
          .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED);
    } else {
      builder.crossRegionAccessEnabled(true);
    }
    return builder.build();
  }

  static Optional<URI> endpoint(Map<String, String> env) throws IOException {
    if ("true".equalsIgnoreCase(env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"))) {
      return Optional.empty();
    }
    for (String variable : new String[] {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}) {
      String value = env.get(variable);
      if (S3Credentials.notBlank(value)) {
        try {
          URI uri = new URI(value.strip());
          if (uri.getHost() == null
              || !("http".equals(uri.getScheme()) || "https".equals(uri.getScheme()))) {
            throw new IOException(variable + "=" + value + ": not an http:// or https:// URL");
          }
          return Optional.of(uri);
        } catch (java.net.URISyntaxException e) {
          throw new IOException(variable + "=" + value + ": not a URL (" + e.getReason() + ")", e);
        }
      }
    }
    return Optional.empty();
  }

  static Region region(Map<String, String> env) {
    for (String variable : new String[] {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
      if (S3Credentials.notBlank(env.get(variable))) {
        return Region.of(env.get(variable).strip());
      }
    }
    try {
      Optional<String> fromProfile =
          S3Credentials.profileFile(env)
              .get()
              .profile(env.getOrDefault("AWS_PROFILE", "default"))
              .flatMap(p -> p.property("region"));
      if (fromProfile.isPresent()) {
        return Region.of(fromProfile.get().strip());
      }
    } catch (RuntimeException unreadable) {
      // A broken profile file is reported when credentials are read from it; the region falls back.
    }
    return Region.US_EAST_1;
  }

  /** Trust managers that trust exactly the certificates of a PEM bundle. */
  static TrustManager[] trustManagers(Path pem) throws IOException {
    // Read whole first: the certificate parser reads its stream a byte at a time, which straight
    // from the file cost a system call per byte (0.3 s for Debian's 220 KB bundle).
    try (InputStream in = new ByteArrayInputStream(Files.readAllBytes(pem))) {
      Collection<? extends Certificate> certs =
          CertificateFactory.getInstance("X.509").generateCertificates(in);
      if (certs.isEmpty()) {
        throw new IOException("AWS_CA_BUNDLE=" + pem + ": holds no PEM certificate");
      }
      KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
      store.load(null, null);
      int i = 0;
      for (Certificate c : certs) {
        store.setCertificateEntry("ca-" + i++, c);
      }
      TrustManagerFactory tmf =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(store);
      return tmf.getTrustManagers();
    } catch (GeneralSecurityException e) {
      throw new IOException(
          "AWS_CA_BUNDLE=" + pem + ": not a PEM certificate bundle (" + e.getMessage() + ")", e);
    } catch (java.nio.file.NoSuchFileException e) {
      throw new IOException("AWS_CA_BUNDLE=" + pem + ": no such file", e);
    }
  }
}
