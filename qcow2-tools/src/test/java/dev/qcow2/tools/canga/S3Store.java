package dev.qcow2.tools.canga;

import dev.qcow2.remote.S3Clients;
import dev.qcow2.tools.Cli;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStore;
import org.jclouds.blobstore.BlobStoreContext;
import org.jclouds.blobstore.domain.Blob;
import org.jclouds.blobstore.domain.MultipartUpload;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * An s3proxy server on a loopback port (filesystem-nio2 backend, AWS signatures checked) for the
 * tests of S3 remotes, started and stopped by them. Its store is wrapped so that the tests see what
 * the server was asked to store ({@link #stored}) and can hold a part upload ({@link #holdParts}).
 */
final class S3Store implements AutoCloseable {
  static final String BUCKET = "canga";
  static final String IDENTITY = "canga-test-key";
  static final String CREDENTIAL = "canga-test-secret";

  static {
    System.setProperty("aws.disableEc2Metadata", "true");
  }

  private final S3Proxy proxy;
  private final BlobStoreContext context;
  private final URI endpoint;
  private final S3Client client;

  /** Keys of the objects the server stored (single puts and completed multipart uploads). */
  final List<String> stored = new CopyOnWriteArrayList<>();

  /** Counted down by each part stored while {@link #holdParts} is set. */
  volatile CountDownLatch partArrived;

  private volatile CountDownLatch release;

  private S3Store(S3Proxy proxy, BlobStoreContext context, URI endpoint) throws Exception {
    this.proxy = proxy;
    this.context = context;
    this.endpoint = endpoint;
    this.client = S3Clients.create(env());
  }

  static S3Store start(Path dir) throws Exception {
    Properties props = new Properties();
    props.setProperty(
        "jclouds.filesystem.basedir", Files.createDirectories(dir.resolve("store")).toString());
    BlobStoreContext context =
        ContextBuilder.newBuilder("filesystem-nio2")
            .credentials("identity", "credential")
            .overrides(props)
            .buildView(BlobStoreContext.class);
    S3Store[] self = new S3Store[1];
    BlobStore real = context.getBlobStore();
    BlobStore watched =
        (BlobStore)
            Proxy.newProxyInstance(
                BlobStore.class.getClassLoader(),
                new Class<?>[] {BlobStore.class},
                (p, method, args) -> {
                  try {
                    Object result = method.invoke(real, args);
                    self[0].after(method.getName(), args);
                    return result;
                  } catch (InvocationTargetException e) {
                    throw e.getCause();
                  }
                });
    S3Proxy proxy =
        S3Proxy.builder()
            .blobStore(watched)
            .endpoint(URI.create("http://127.0.0.1:0"))
            .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, IDENTITY, CREDENTIAL)
            .build();
    proxy.start();
    for (int i = 0; i < 1000 && !"STARTED".equals(proxy.getState()); i++) {
      Thread.sleep(10);
    }
    if (!"STARTED".equals(proxy.getState())) {
      proxy.stop();
      context.close();
      throw new IllegalStateException("s3proxy did not start: " + proxy.getState());
    }
    self[0] = new S3Store(proxy, context, URI.create("http://127.0.0.1:" + proxy.getPort()));
    self[0].client.createBucket(b -> b.bucket(BUCKET));
    return self[0];
  }

  /**
   * Holds the reply to a part upload, once the part is stored: a part held before it is stored
   * would be written after the client's abort, and s3proxy keeps such a part as a broken file.
   */
  private void after(String method, Object[] args) throws InterruptedException {
    CountDownLatch held = release;
    if (method.equals("uploadMultipartPart") && held != null) {
      partArrived.countDown();
      held.await(60, TimeUnit.SECONDS);
    } else if (method.equals("putBlob") && args[1] instanceof Blob b) {
      stored.add(b.getMetadata().getName());
    } else if (method.equals("completeMultipartUpload") && args[0] instanceof MultipartUpload u) {
      stored.add(u.blobName());
    }
  }

  /**
   * From now on, the replies to part uploads wait until {@link #releaseParts}; {@link #partArrived}
   * opens when {@code parts} parts are stored. (A client interrupted while it sends a part's body
   * leaves s3proxy's filesystem store a broken part file that fails every later listing and abort
   * of the upload, which S3 does not: the tests interrupt between parts.)
   */
  void holdParts(int parts) {
    partArrived = new CountDownLatch(parts);
    release = new CountDownLatch(1);
  }

  void releaseParts() {
    CountDownLatch held = release;
    release = null;
    if (held != null) {
      held.countDown();
    }
  }

  /** The image files ({@code .qcow2}) stored under {@code prefix}, in order. */
  List<String> storedImages(String prefix) {
    List<String> images = new ArrayList<>();
    for (String key : stored) {
      if (key.startsWith(prefix) && key.endsWith(".qcow2")) {
        images.add(key.substring(prefix.length()));
      }
    }
    return images;
  }

  /** The environment a client of this server is configured from: endpoint and right credentials. */
  Map<String, String> env() {
    Map<String, String> env = new HashMap<>();
    env.put("AWS_ENDPOINT_URL", endpoint.toString());
    env.put("AWS_ACCESS_KEY_ID", IDENTITY);
    env.put("AWS_SECRET_ACCESS_KEY", CREDENTIAL);
    env.put("AWS_REGION", "us-east-1");
    env.put("AWS_CONFIG_FILE", "/nonexistent/canga-test/config");
    env.put("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/canga-test/credentials");
    env.put("AWS_EC2_METADATA_DISABLED", "true");
    return env;
  }

  /**
   * The keys of the store's unfinished multipart uploads under {@code prefix}, as the store sees
   * them.
   */
  List<String> unfinishedUploads(String prefix) {
    List<String> keys = new ArrayList<>();
    for (MultipartUpload u : context.getBlobStore().listMultipartUploads(BUCKET)) {
      if (u.blobName().startsWith(prefix)) {
        keys.add(u.blobName());
      }
    }
    return keys;
  }

  S3Client client() {
    return client;
  }

  /** Keys under {@code prefix} in the bucket. */
  List<String> keys(String prefix) {
    List<String> keys = new ArrayList<>();
    client
        .listObjectsV2Paginator(b -> b.bucket(BUCKET).prefix(prefix))
        .contents()
        .forEach(o -> keys.add(o.key()));
    return keys;
  }

  /**
   * Runs {@code canga --config CONFIG ARGS} in-process with {@code env}, as {@code bin/canga}
   * would.
   */
  static Cli.Result canga(Map<String, String> env, Path config, String... args) {
    List<String> all = new ArrayList<>(List.of("--config", config.toString()));
    all.addAll(List.of(args));
    return Canga.inProcess(env, false, all);
  }

  @Override
  public void close() throws Exception {
    releaseParts();
    try (S3Client c = client) {
      proxy.stop();
    } finally {
      context.close();
    }
  }
}
