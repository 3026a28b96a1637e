package dev.qcow2.remote;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.function.Consumer;
import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStore;
import org.jclouds.blobstore.BlobStoreContext;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * An s3proxy server in this JVM on a loopback port, storing its buckets in a folder (the
 * filesystem-nio2 backend), with AWS signature checks on: the tests start and stop it.
 */
public final class S3TestServer implements AutoCloseable {
  public static final String IDENTITY = "qcow2-test-key";
  public static final String CREDENTIAL = "qcow2-test-secret";

  static {
    // Belt and braces: no test may ever ask the instance-metadata service.
    System.setProperty("aws.disableEc2Metadata", "true");
  }

  private final S3Proxy proxy;
  private final BlobStoreContext context;
  private final URI endpoint;
  private S3Client client;

  private S3TestServer(S3Proxy proxy, BlobStoreContext context, URI endpoint) {
    this.proxy = proxy;
    this.context = context;
    this.endpoint = endpoint;
  }

  /** A server storing its buckets under {@code dir}, with one bucket made. */
  public static S3TestServer start(Path dir, String bucket) throws Exception {
    S3TestServer server = start(Files.createDirectories(dir.resolve("store")));
    server.client().createBucket(b -> b.bucket(bucket));
    return server;
  }

  static S3TestServer start(Path baseDir) throws Exception {
    return start(baseDir, b -> {});
  }

  /**
   * A server storing its buckets under {@code dir}, with one bucket made, that checks no signature:
   * a plain {@code curl -T} can PUT to it (for benchmarks against curl).
   */
  public static S3TestServer startWithoutAuth(Path dir, String bucket) throws Exception {
    S3TestServer server =
        start(
            Files.createDirectories(dir.resolve("store")),
            b -> b.awsAuthentication(AuthenticationType.NONE, null, null));
    server.client().createBucket(b -> b.bucket(bucket));
    return server;
  }

  /** A server that also answers TLS, with the key in {@code keyStore} (JKS). */
  static S3TestServer startWithTls(Path baseDir, Path keyStore, String password) throws Exception {
    return start(
        baseDir,
        b ->
            b.secureEndpoint(URI.create("https://127.0.0.1:0"))
                .keyStore(keyStore.toString(), password));
  }

  private static S3TestServer start(Path baseDir, Consumer<S3Proxy.Builder> extra)
      throws Exception {
    long t0 = System.nanoTime();
    Properties props = new Properties();
    props.setProperty("jclouds.filesystem.basedir", baseDir.toString());
    BlobStoreContext context =
        ContextBuilder.newBuilder("filesystem-nio2")
            .credentials("identity", "credential")
            .overrides(props)
            .buildView(BlobStoreContext.class);
    S3Proxy.Builder builder =
        S3Proxy.builder()
            .blobStore(context.getBlobStore())
            .endpoint(URI.create("http://127.0.0.1:0"))
            .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, IDENTITY, CREDENTIAL);
    extra.accept(builder);
    S3Proxy proxy = builder.build();
    proxy.start();
    for (int i = 0; i < 1000 && !"STARTED".equals(proxy.getState()); i++) {
      Thread.sleep(10);
    }
    if (!"STARTED".equals(proxy.getState())) {
      proxy.stop();
      context.close();
      throw new IllegalStateException("s3proxy did not start: " + proxy.getState());
    }
    long millis = (System.nanoTime() - t0) / 1_000_000;
    System.out.println("s3proxy started in " + millis + " ms");
    return new S3TestServer(proxy, context, URI.create("http://127.0.0.1:" + proxy.getPort()));
  }

  public URI endpoint() {
    return endpoint;
  }

  /** The TLS endpoint, when started with one. */
  URI secureEndpoint() {
    return URI.create("https://127.0.0.1:" + proxy.getSecurePort());
  }

  BlobStore blobStore() {
    return context.getBlobStore();
  }

  /** The environment a client of this server is configured from, with the right credentials. */
  public Map<String, String> env() {
    Map<String, String> env = new HashMap<>();
    env.put("AWS_ENDPOINT_URL", endpoint.toString());
    env.put("AWS_ACCESS_KEY_ID", IDENTITY);
    env.put("AWS_SECRET_ACCESS_KEY", CREDENTIAL);
    // No profile file of the machine running the tests may leak in.
    env.put("AWS_CONFIG_FILE", "/nonexistent/qcow2-test/config");
    env.put("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/qcow2-test/credentials");
    env.put("AWS_EC2_METADATA_DISABLED", "true");
    return env;
  }

  /** A client of this server with the right credentials, closed with the server. */
  public synchronized S3Client client() throws IOException {
    if (client == null) {
      client = S3Clients.create(env());
    }
    return client;
  }

  @Override
  public void close() throws Exception {
    try (S3Client c = client) {
      proxy.stop();
    } finally {
      context.close();
    }
  }
}
