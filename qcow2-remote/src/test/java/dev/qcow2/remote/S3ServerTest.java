package dev.qcow2.remote;

import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.services.s3.S3Client;

/** The tests that share one s3proxy server per test class, with one bucket made. */
abstract class S3ServerTest {
  static final String BUCKET = "images";

  @TempDir static Path dir;
  static S3TestServer server;
  static S3Client client;

  @BeforeAll
  static void startServer() throws Exception {
    server = S3TestServer.start(dir, BUCKET);
    client = server.client();
  }

  @AfterAll
  static void stopServer() throws Exception {
    if (server != null) {
      server.close();
      server = null;
    }
  }

  static S3Location at(String key) throws Exception {
    return S3Location.parse("s3://" + BUCKET + "/" + key);
  }
}
