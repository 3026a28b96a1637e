package dev.qcow2.tools;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The class-data-sharing training: with --remote it runs the remote paths too, against its own
 * loopback server; either way it stays quiet and leaves nothing behind.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class CdsTrainingTest {
  @TempDir Path dir;

  @Test
  @Timeout(300)
  void should_load_the_http_and_s3_classes_quietly_and_leave_no_file() throws Exception {
    String loaded = train("--remote");
    for (String name :
        new String[] {
          // The http:// verbs.
          "dev.qcow2.remote.HttpRangeSource ",
          "jdk.internal.net.http.HttpClientImpl ",
          // The s3:// reads and uploads, down to the SDK's answers to each call.
          "dev.qcow2.remote.S3RangeSource ",
          "software.amazon.awssdk.services.s3.model.HeadObjectResponse ",
          "software.amazon.awssdk.services.s3.model.GetObjectResponse ",
          "software.amazon.awssdk.services.s3.model.CreateMultipartUploadResponse ",
          "software.amazon.awssdk.services.s3.model.UploadPartResponse ",
          "software.amazon.awssdk.services.s3.model.CompleteMultipartUploadResponse ",
          "software.amazon.awssdk.services.s3.model.PutObjectResponse ",
          "software.amazon.awssdk.services.s3.model.NoSuchKeyException ",
        }) {
      assertTrue(loaded.contains(name), "the training loaded no " + name);
    }
  }

  @Test
  @Timeout(300)
  void should_keep_the_local_training_off_the_network() throws Exception {
    String loaded = train();
    assertTrue(loaded.contains("dev.qcow2.tools.img.InfoCommand "), "no verb ran");
    assertFalse(loaded.contains("software.amazon.awssdk."), "the local training loaded the SDK");
    assertFalse(
        loaded.contains("jdk.internal.net.http."), "the local training loaded java.net.http");
  }

  /**
   * Runs the training in a child JVM with its own temporary folder, checks that it printed nothing
   * and left nothing there, and returns its log of loaded classes.
   */
  private String train(String... args) throws Exception {
    Path tmp = Files.createDirectories(dir.resolve("tmp"));
    Path log = dir.resolve("class-load.log");
    Path out = dir.resolve("out.txt");
    Path err = dir.resolve("err.txt");
    List<String> cmd =
        new ArrayList<>(
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Djava.io.tmpdir=" + tmp,
                "-Xlog:class+load=info:file=" + log,
                "-cp",
                System.getProperty("java.class.path"),
                CdsTraining.class.getName()));
    cmd.addAll(List.of(args));
    Process p =
        new ProcessBuilder(cmd)
            .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
            .redirectOutput(out.toFile())
            .redirectError(err.toFile())
            .start();
    if (!p.waitFor(240, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("the training did not end in 240 s");
    }
    assertEquals(0, p.exitValue(), Files.readString(err));
    assertEquals("", Files.readString(out));
    assertEquals("", Files.readString(err));
    try (Stream<Path> left = Files.list(tmp)) {
      assertEquals(List.of(), left.toList());
    }
    return Files.readString(log);
  }

  @Test
  @Timeout(120)
  void should_read_and_upload_through_the_training_server() throws Exception {
    Path img = dir.resolve("a.qcow2");
    Qemu.img(dir, "create", "-q", "-f", "qcow2", img.toString(), "8M");
    Qemu.io(dir, img.toString(), "write -P 0x5a 0 1M", "write -P 0xa5 6M 64k");
    Path expected = Qemu.toRaw(dir, img.toString(), "expected.raw");
    try (CdsTrainingServer server = CdsTrainingServer.start(Files.readAllBytes(img))) {
      String url = server.endpoint() + "/" + CdsTrainingServer.KEY;
      Cli.Result info = Cli.run("qcow2", "info", url);
      assertEquals(0, info.exitCode(), info.stderr());
      assertTrue(info.stdout().contains("virtual size: 8 MiB (8388608 bytes)"), info.stdout());
      Path http = dir.resolve("http.raw");
      Cli.Result convert = Cli.run("qcow2", "convert", "-O", "raw", url, http.toString());
      assertEquals(0, convert.exitCode(), convert.stderr());
      assertArrayEquals(Files.readAllBytes(expected), Files.readAllBytes(http));

      Path s3 = Files.createDirectories(dir.resolve("s3"));
      CdsTrainingS3.run(server.endpoint(), img, s3);
      assertArrayEquals(Files.readAllBytes(expected), Files.readAllBytes(s3.resolve("s3.raw")));
      assertTrue(server.ranges() > 0, "no ranged read");
      // 8 MiB raw in 5 MiB parts: two parts and one completion; then index.yaml's one put. The
      // server refuses a body whose Content-MD5 differs, so these counts are of intact bodies.
      assertEquals(2, server.parts());
      assertEquals(1, server.completed());
      assertEquals(1, server.puts());
    }
  }

  @Test
  @Timeout(60)
  void should_answer_ranges_as_a_web_server_does() throws Exception {
    byte[] object = new byte[1000];
    for (int i = 0; i < object.length; i++) {
      object[i] = (byte) i;
    }
    try (CdsTrainingServer server = CdsTrainingServer.start(object)) {
      HttpClient client = HttpClient.newHttpClient();
      URI uri = URI.create(server.endpoint() + "/" + CdsTrainingServer.KEY);
      HttpResponse<byte[]> range = get(client, uri, "bytes=10-19", null);
      assertEquals(206, range.statusCode());
      assertEquals("bytes 10-19/1000", range.headers().firstValue("Content-Range").orElse(""));
      assertEquals(10, range.body().length);
      assertEquals(10, range.body()[0]);
      String etag = range.headers().firstValue("ETag").orElseThrow();
      assertTrue(range.headers().firstValue("Last-Modified").isPresent());
      assertEquals(206, get(client, uri, "bytes=990-2000", etag).statusCode());
      assertEquals(412, get(client, uri, "bytes=0-1", "\"other\"").statusCode());
      HttpResponse<byte[]> beyond = get(client, uri, "bytes=1000-1001", null);
      assertEquals(416, beyond.statusCode());
      assertEquals("bytes */1000", beyond.headers().firstValue("Content-Range").orElse(""));
      HttpResponse<byte[]> whole = get(client, uri, null, null);
      assertEquals(200, whole.statusCode());
      assertArrayEquals(object, whole.body());
      HttpResponse<Void> head =
          client.send(
              HttpRequest.newBuilder(uri)
                  .method("HEAD", HttpRequest.BodyPublishers.noBody())
                  .build(),
              HttpResponse.BodyHandlers.discarding());
      assertEquals(200, head.statusCode());
      assertEquals("1000", head.headers().firstValue("Content-Length").orElse(""));
      assertEquals(
          404, get(client, URI.create(server.endpoint() + "/other"), null, null).statusCode());
    }
  }

  private static HttpResponse<byte[]> get(HttpClient client, URI uri, String range, String ifMatch)
      throws IOException, InterruptedException {
    HttpRequest.Builder b = HttpRequest.newBuilder(uri);
    if (range != null) {
      b.header("Range", range);
    }
    if (ifMatch != null) {
      b.header("If-Match", ifMatch);
    }
    return client.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
  }
}
