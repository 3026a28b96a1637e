package dev.qcow2.remote;

import java.nio.file.Path;

/**
 * s3proxy as a process of its own, for the benchmarks and manual runs: {@code S3ProxyMain DIR
 * BUCKET [--no-auth]} stores under DIR, makes BUCKET, prints the endpoint on one line, and serves
 * on loopback until its standard input closes (or it is killed). {@code --no-auth} checks no
 * signature, so that a plain {@code curl -T} can PUT.
 */
public final class S3ProxyMain {
  private S3ProxyMain() {}

  public static void main(String[] args) throws Exception {
    boolean noAuth = args.length == 3 && args[2].equals("--no-auth");
    if (args.length != 2 && !noAuth) {
      System.err.println("usage: S3ProxyMain DIR BUCKET [--no-auth]");
      System.exit(2);
    }
    Path dir = Path.of(args[0]);
    try (S3TestServer server =
        noAuth ? S3TestServer.startWithoutAuth(dir, args[1]) : S3TestServer.start(dir, args[1])) {
      System.out.println("endpoint " + server.endpoint());
      System.out.flush();
      while (System.in.read() >= 0) {
        // Serve until the parent closes our standard input.
      }
    }
  }
}
