package dev.qcow2.remote;

import java.nio.file.Path;

/**
 * s3proxy as a process of its own, for benchmarks/compare-remote.sh and manual runs: {@code
 * S3ProxyMain DIR BUCKET} stores under DIR, makes BUCKET, prints the endpoint on one line, and
 * serves on loopback until its standard input closes (or it is killed).
 */
public final class S3ProxyMain {
  private S3ProxyMain() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: S3ProxyMain DIR BUCKET");
      System.exit(2);
    }
    try (S3TestServer server = S3TestServer.start(Path.of(args[0]), args[1])) {
      System.out.println("endpoint " + server.endpoint());
      System.out.flush();
      while (System.in.read() >= 0) {
        // Serve until the parent closes our standard input.
      }
    }
  }
}
