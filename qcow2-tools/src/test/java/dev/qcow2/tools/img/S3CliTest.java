package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.remote.S3TestServer;
import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import dev.qcow2.tools.Cli;
import dev.qcow2.tools.Main;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.core.sync.ResponseTransformer;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * The verbs on s3:// names, against s3proxy on a loopback port. The CLI runs as a child process
 * configured from its environment (AWS_ENDPOINT_URL and the keys), as a user runs it; its output is
 * compared with what the in-process CLI prints for the local files.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class S3CliTest {
  private static final long MiB = 1 << 20;
  private static final String BUCKET = "images";

  @TempDir static Path dir;
  static S3TestServer server;
  static S3Client client;
  static Path repo;

  @BeforeAll
  static void start() throws Exception {
    server = S3TestServer.start(dir, BUCKET);
    client = server.client();
    repo = Files.createDirectories(dir.resolve("repo"));
    TestData.writeRaw(dir.resolve("src.raw"), 12 * MiB, 3);
    Qemu.img(
        repo,
        "convert",
        "-c",
        "-O",
        "qcow2",
        "-o",
        "compression_type=zstd",
        "../src.raw",
        "base.qcow2");
    Qemu.img(repo, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");
    Qemu.io(repo, "top.qcow2", "write -P 0x61 3M 2M", "write -z 8M 1M");
    for (String name : new String[] {"base.qcow2", "top.qcow2"}) {
      client.putObject(
          b -> b.bucket(BUCKET).key("repo/" + name), RequestBody.fromFile(repo.resolve(name)));
    }
  }

  @AfterAll
  static void stop() throws Exception {
    if (server != null) {
      server.close();
    }
  }

  record Run(int exitCode, String stdout, String stderr) {}

  /**
   * The CLI in a child JVM with the test server's environment; its stdout to {@code out} if given.
   */
  private static ProcessBuilder child(Path out, String... args) {
    List<String> command =
        new ArrayList<>(
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                Main.class.getName()));
    command.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(command);
    pb.environment().putAll(server.env());
    if (out != null) {
      pb.redirectOutput(out.toFile());
    }
    return pb;
  }

  private static Run run(Path out, String... args) throws Exception {
    Path stdout = out != null ? out : Files.createTempFile(dir, "stdout", ".txt");
    Path stderr = Files.createTempFile(dir, "stderr", ".txt");
    Process p = child(stdout, args).redirectError(stderr.toFile()).start();
    assertTrue(p.waitFor(240, TimeUnit.SECONDS), "the CLI did not end: " + String.join(" ", args));
    return new Run(
        p.exitValue(),
        out != null ? "" : Files.readString(stdout),
        withoutSlf4j(Files.readString(stderr)));
  }

  /**
   * SLF4J's one-time notice that no logging backend is bound (the SDK's, printed by the library).
   */
  private static String withoutSlf4j(String stderr) {
    return stderr.replaceAll("(?m)^SLF4J: .*\\R", "");
  }

  private static String ok(String... args) throws Exception {
    Run r = run(null, args);
    assertEquals(0, r.exitCode(), r.stderr());
    return r.stdout();
  }

  private static String local(String... args) {
    Cli.Result r = Cli.run(args);
    assertEquals(0, r.exitCode(), r.stderr());
    return r.stdout();
  }

  private static String asLocal(String output) {
    return output.replace("s3://" + BUCKET + "/repo/", repo + "/");
  }

  private static Path download(String key, String file) {
    Path to = dir.resolve(file);
    client.getObject(b -> b.bucket(BUCKET).key(key), ResponseTransformer.toFile(to));
    return to;
  }

  @Test
  void infoMapHashAndConvertReadAsFromTheLocalFiles() throws Exception {
    String url = "s3://" + BUCKET + "/repo/top.qcow2";
    String top = repo.resolve("top.qcow2").toString();
    String info = ok("qcow2", "info", "--output=json", "--backing-chain", url);
    assertTrue(info.contains("\"full-backing-filename\": \"s3://images/repo/base.qcow2\""), info);
    assertEquals(
        local("qcow2", "info", "--output=json", "--backing-chain", top)
            .replaceAll("\"actual-size\": \\d+", ""),
        asLocal(info).replaceAll("\"actual-size\": \\d+", ""));
    assertEquals(
        local("qcow2", "map", "--output=json", top),
        asLocal(ok("qcow2", "map", "--output=json", url)));
    assertEquals(
        local("qcow2", "hash", "-a", "sha256", top),
        asLocal(ok("qcow2", "hash", "-a", "sha256", url)));
    ok("qcow2", "convert", "-O", "raw", url, dir.resolve("from-s3.raw").toString());
    Qemu.img(repo, "convert", "-O", "raw", "top.qcow2", "../expected.raw");
    assertArrayEquals(
        Files.readAllBytes(dir.resolve("expected.raw")),
        Files.readAllBytes(dir.resolve("from-s3.raw")));
  }

  @Test
  void convertToS3EqualsTheSameConversionToAFile() throws Exception {
    String src = repo.resolve("top.qcow2").toString();
    String[][] cases = {
      {"-O", "raw"},
      {"-O", "qcow2"},
      {"-O", "qcow2", "-c", "-o", "compression_type=zlib"},
      {"-O", "qcow2", "-c", "-o", "compression_type=zstd"}
    };
    for (int i = 0; i < cases.length; i++) {
      String key = "out/" + i + ".img";
      List<String> args = new ArrayList<>(List.of("qcow2", "convert"));
      args.addAll(List.of(cases[i]));
      args.add(src);
      ok(with(args, "s3://" + BUCKET + "/" + key));
      Path got = download(key, "got-" + i + ".img");
      String format = cases[i][1];
      Qemu.img(dir, "compare", "-f", format, "-F", "qcow2", got.toString(), src);
      if (format.equals("qcow2")) {
        Qemu.img(dir, "check", "-q", got.toString());
      }
      // The same forward-only conversion written to a file, and for raw the plain file conversion.
      Path streamed = dir.resolve("streamed-" + i + ".img");
      Run r = run(streamed, with(args, "-"));
      assertEquals(0, r.exitCode(), r.stderr());
      assertArrayEquals(
          Files.readAllBytes(streamed), Files.readAllBytes(got), String.join(" ", cases[i]));
      if (format.equals("raw")) {
        Path file = dir.resolve("file-" + i + ".raw");
        local(with(args, file.toString()));
        assertArrayEquals(Files.readAllBytes(file), Files.readAllBytes(got));
      }
    }
  }

  private static String[] with(List<String> args, String last) {
    List<String> all = new ArrayList<>(args);
    all.add(last);
    return all.toArray(String[]::new);
  }

  @Test
  void noSdkClassLoadsUnlessAnS3NameIsUsed() throws Exception {
    String top = repo.resolve("top.qcow2").toString();
    String[][] commands = {
      {"info", top},
      {"convert", "-O", "qcow2", "-c", top, dir.resolve("c.qcow2").toString()},
      {"info", "s3://" + BUCKET + "/repo/top.qcow2"}
    };
    for (String[] command : commands) {
      List<String> args =
          new ArrayList<>(
              List.of(
                  Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                  "-verbose:class",
                  "-cp",
                  System.getProperty("java.class.path"),
                  Main.class.getName(),
                  "qcow2"));
      args.addAll(List.of(command));
      ProcessBuilder pb = new ProcessBuilder(args).redirectErrorStream(true);
      pb.environment().putAll(server.env());
      Path out = dir.resolve("classes.txt");
      Process p = pb.redirectOutput(out.toFile()).start();
      assertTrue(p.waitFor(120, TimeUnit.SECONDS));
      assertEquals(0, p.exitValue());
      boolean sdk = Files.readString(out).contains("software.amazon.awssdk");
      assertEquals(command[command.length - 1].startsWith("s3://"), sdk, String.join(" ", command));
    }
  }

  @Test
  void aMissingObjectAMissingBucketAndWrongKeysAreOneLineAndStatus1() throws Exception {
    assertOneLine(
        run(null, "qcow2", "info", "s3://" + BUCKET + "/repo/nothing.qcow2"), "no such object");
    assertOneLine(run(null, "qcow2", "map", "s3://no-such-bucket/x.qcow2"), "no such bucket");
    ProcessBuilder wrong = child(null, "qcow2", "hash", "s3://" + BUCKET + "/repo/top.qcow2");
    wrong.environment().put("AWS_SECRET_ACCESS_KEY", "not-the-secret");
    Path err = dir.resolve("wrong.err");
    Process p = wrong.redirectError(err.toFile()).start();
    assertTrue(p.waitFor(120, TimeUnit.SECONDS));
    assertOneLine(
        new Run(p.exitValue(), "", withoutSlf4j(Files.readString(err))), "secret access key");
  }

  private static void assertOneLine(Run r, String words) {
    assertEquals(1, r.exitCode(), r.stderr());
    assertEquals(1, r.stderr().lines().count(), r.stderr());
    assertTrue(r.stderr().startsWith("qcow2: ") && r.stderr().contains(words), r.stderr());
  }

  @Test
  void aConversionKilledOrTerminatedMidUploadLeavesNoObject() throws Exception {
    Path big = dir.resolve("big.qcow2");
    Qemu.img(dir, "create", "-q", "-f", "qcow2", big.toString(), "1G");
    Qemu.io(dir, big.toString(), "write -P 0x77 0 8M");
    for (boolean kill : new boolean[] {true, false}) {
      String key = "killed/" + kill + ".raw";
      Process p =
          child(
                  dir.resolve("child.out"),
                  "qcow2",
                  "convert",
                  "-O",
                  "raw",
                  big.toString(),
                  "s3://" + BUCKET + "/" + key)
              .redirectError(dir.resolve("child.err").toFile())
              .start();
      try {
        // The multipart upload exists once a part has been sent: stop the child then.
        while (client.listMultipartUploads(b -> b.bucket(BUCKET).prefix(key)).uploads().isEmpty()) {
          assertTrue(
              p.isAlive(),
              "the child ended before its first part: "
                  + Files.readString(dir.resolve("child.err")));
          Thread.sleep(20);
        }
        if (kill) {
          p.destroyForcibly();
        } else {
          p.destroy();
        }
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
      } finally {
        p.destroyForcibly();
      }
      assertFalse(p.exitValue() == 0);
      assertEquals(List.of(), client.listObjectsV2(b -> b.bucket(BUCKET).prefix(key)).contents());
      if (!kill) {
        // SIGTERM runs the shutdown hook, which aborts the upload: not even its parts are left.
        assertEquals(
            List.of(),
            client.listMultipartUploads(b -> b.bucket(BUCKET).prefix(key)).uploads(),
            withoutSlf4j(Files.readString(dir.resolve("child.err")))
                .lines()
                .filter(l -> !l.contains(" DEBUG "))
                .reduce("", (a, b) -> a + b + "\n"));
      }
    }
  }
}
