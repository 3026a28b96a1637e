package dev.qcow2.tools.canga;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStoreContext;

/**
 * s3proxy on its own for benchmarks/compare-canga-remote.sh: {@code S3ProxyMain DIR BUCKET}
 * serves the filesystem-nio2 store in DIR on a free loopback port with authorization off (so that
 * a plain {@code curl -T} can PUT), makes BUCKET, prints the port on a line and runs until its
 * standard input closes.
 */
public final class S3ProxyMain {
  private S3ProxyMain() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: S3ProxyMain DIR BUCKET");
      System.exit(2);
    }
    Properties props = new Properties();
    props.setProperty("jclouds.filesystem.basedir", Files.createDirectories(Path.of(args[0])).toString());
    try (BlobStoreContext context = ContextBuilder.newBuilder("filesystem-nio2")
        .credentials("identity", "credential").overrides(props).buildView(BlobStoreContext.class)) {
      context.getBlobStore().createContainerInLocation(null, args[1]);
      S3Proxy proxy = S3Proxy.builder()
          .blobStore(context.getBlobStore())
          .endpoint(URI.create("http://127.0.0.1:0"))
          .awsAuthentication(AuthenticationType.NONE, null, null)
          .build();
      proxy.start();
      for (int i = 0; i < 1000 && !"STARTED".equals(proxy.getState()); i++) {
        Thread.sleep(10);
      }
      System.out.println(proxy.getPort());
      System.out.flush();
      try {
        while (System.in.read() >= 0) {
          // runs until the script closes our input
        }
      } finally {
        proxy.stop();
      }
    }
  }
}
