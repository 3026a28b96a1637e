package dev.qcow2.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.remote.S3RequestException.Reason;
import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AnonymousCredentialsProvider;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/** Clients configured from the environment as the AWS tools are. */
@Timeout(60)
class S3ClientsTest {
  @TempDir Path dir;

  /** An environment that reaches nothing of the machine running the tests. */
  Map<String, String> isolated() {
    Map<String, String> env = new HashMap<>();
    env.put("AWS_CONFIG_FILE", dir.resolve("no-config").toString());
    env.put("AWS_SHARED_CREDENTIALS_FILE", dir.resolve("no-credentials").toString());
    env.put("AWS_EC2_METADATA_DISABLED", "true");
    return env;
  }

  @Test
  void withNothingConfiguredTheClientIsAnonymousInUsEast1() throws Exception {
    try (S3Client client = S3Clients.create(isolated())) {
      assertInstanceOf(
          AnonymousCredentialsProvider.class,
          client.serviceClientConfiguration().credentialsProvider());
      assertEquals(Region.US_EAST_1, client.serviceClientConfiguration().region());
    }
  }

  @Test
  void theRegionComesFromTheEnvironmentThenTheProfile() throws Exception {
    Path config = dir.resolve("config");
    Files.writeString(
        config, "[profile ops]\nregion = eu-west-3\n[default]\nregion = ap-south-1\n");
    Map<String, String> env = isolated();
    env.put("AWS_CONFIG_FILE", config.toString());
    assertEquals(Region.AP_SOUTH_1, S3Clients.region(env));
    env.put("AWS_PROFILE", "ops");
    assertEquals(Region.EU_WEST_3, S3Clients.region(env));
    env.put("AWS_DEFAULT_REGION", "us-west-2");
    assertEquals(Region.US_WEST_2, S3Clients.region(env));
    env.put("AWS_REGION", "eu-central-1");
    assertEquals(Region.EU_CENTRAL_1, S3Clients.region(env));
  }

  @Test
  void theS3EndpointVariableWinsAndOnlyHttpUrlsAreTaken() throws Exception {
    Map<String, String> env = isolated();
    assertEquals(Optional.empty(), S3Clients.endpoint(env));
    env.put("AWS_ENDPOINT_URL", "http://127.0.0.1:9000");
    assertEquals(Optional.of(URI.create("http://127.0.0.1:9000")), S3Clients.endpoint(env));
    env.put("AWS_ENDPOINT_URL_S3", "https://s3.example.test");
    assertEquals(Optional.of(URI.create("https://s3.example.test")), S3Clients.endpoint(env));
    env.put("AWS_ENDPOINT_URL_S3", "ftp://s3.example.test");
    IOException e = assertThrows(IOException.class, () -> S3Clients.endpoint(env));
    assertEquals(
        "AWS_ENDPOINT_URL_S3=ftp://s3.example.test: not an http:// or https:// URL",
        e.getMessage());
    env.put("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true");
    assertEquals(Optional.empty(), S3Clients.endpoint(env));
  }

  @Test
  @Timeout(120)
  void aProfileGivesTheCredentials() throws Exception {
    try (S3TestServer server = S3TestServer.start(dir, "profiled")) {
      server
          .client()
          .putObject(b -> b.bucket("profiled").key("x"), RequestBody.fromBytes(new byte[] {42}));
      Path credentials = dir.resolve("credentials");
      Files.writeString(
          credentials,
          "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n"
              + "[qcow2]\naws_access_key_id = "
              + S3TestServer.IDENTITY
              + "\naws_secret_access_key = "
              + S3TestServer.CREDENTIAL
              + "\n");
      Map<String, String> env = isolated();
      env.put("AWS_ENDPOINT_URL", server.endpoint().toString());
      env.put("AWS_SHARED_CREDENTIALS_FILE", credentials.toString());
      env.put("AWS_PROFILE", "qcow2");
      try (S3Client client = S3Clients.create(env);
          S3RangeSource source = S3RangeSource.open(client, S3Location.parse("s3://profiled/x"))) {
        ByteBuffer b = ByteBuffer.allocate(1);
        source.read(b, 0);
        assertEquals(42, b.get(0));
      }
      env.remove("AWS_PROFILE");
      try (S3Client client = S3Clients.create(env)) {
        S3RequestException e =
            assertThrows(
                S3RequestException.class,
                () -> S3RangeSource.open(client, S3Location.parse("s3://profiled/x")));
        assertEquals(Reason.BAD_CREDENTIALS, e.reason());
      }
    }
  }

  @Test
  @Timeout(120)
  void theCaBundleIsWhatMakesATlsEndpointTrusted() throws Exception {
    String password = "changeit-test";
    Qemu.run(
        dir,
        "keytool",
        "-genkeypair",
        "-alias",
        "s3proxy",
        "-keyalg",
        "RSA",
        "-keysize",
        "2048",
        "-dname",
        "CN=127.0.0.1",
        "-ext",
        "SAN=ip:127.0.0.1",
        "-validity",
        "2",
        "-keystore",
        "server.jks",
        "-storetype",
        "JKS",
        "-storepass",
        password,
        "-keypass",
        password);
    Qemu.run(
        dir,
        "keytool",
        "-exportcert",
        "-rfc",
        "-alias",
        "s3proxy",
        "-keystore",
        "server.jks",
        "-storepass",
        password,
        "-file",
        "ca.pem");
    Path store = Files.createDirectories(dir.resolve("store"));
    try (S3TestServer server =
        S3TestServer.startWithTls(store, dir.resolve("server.jks"), password)) {
      server.client().createBucket(b -> b.bucket("images"));
      server
          .client()
          .putObject(b -> b.bucket("images").key("tls"), RequestBody.fromBytes(new byte[] {7, 8}));
      Map<String, String> env = server.env();
      env.put("AWS_ENDPOINT_URL", server.secureEndpoint().toString());
      S3Location tls = S3Location.parse("s3://images/tls");
      try (S3Client untrusting = S3Clients.create(env)) {
        S3RequestException e =
            assertThrows(S3RequestException.class, () -> S3RangeSource.open(untrusting, tls));
        assertEquals(Reason.UNREACHABLE, e.reason());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
      }
      env.put("AWS_CA_BUNDLE", dir.resolve("ca.pem").toString());
      try (S3Client trusting = S3Clients.create(env);
          S3RangeSource source = S3RangeSource.open(trusting, tls)) {
        assertEquals(2, source.length());
      }
    }
  }

  @Test
  void aCaBundleThatIsNotPemIsRefusedInOneLine() throws Exception {
    Path bad = Files.writeString(dir.resolve("bad.pem"), "not a certificate\n");
    Map<String, String> env = isolated();
    env.put("AWS_CA_BUNDLE", bad.toString());
    IOException e = assertThrows(IOException.class, () -> S3Clients.create(env));
    assertTrue(e.getMessage().startsWith("AWS_CA_BUNDLE=" + bad + ": "), e.getMessage());
    env.put("AWS_CA_BUNDLE", dir.resolve("absent.pem").toString());
    e = assertThrows(IOException.class, () -> S3Clients.create(env));
    assertEquals("AWS_CA_BUNDLE=" + dir.resolve("absent.pem") + ": no such file", e.getMessage());
  }
}
