package dev.qcow2.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * NBD_OPT_STARTTLS with the certificate files qemu's tls-creds-x509 reads, made by openssl for each
 * test, and libnbd (nbdinfo, nbdcopy on nbds:// URIs) as the client.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class TlsTest {
  @TempDir Path dir;

  /**
   * A CA, a server certificate for 127.0.0.1 and a client certificate; server and client folders.
   */
  private void makeCertificates() throws Exception {
    Files.createDirectories(dir.resolve("server"));
    Files.createDirectories(dir.resolve("client"));
    Files.createDirectories(dir.resolve("stranger"));
    Files.writeString(
        dir.resolve("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n" + "extendedKeyUsage=serverAuth\n");
    Files.writeString(dir.resolve("client.ext"), "extendedKeyUsage=clientAuth\n");
    Tools.run(
        dir,
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca-cert.pem",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca");
    for (String who : new String[] {"server", "client"}) {
      Tools.run(
          dir,
          "openssl",
          "req",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-keyout",
          who + "/" + who + "-key.pem",
          "-out",
          who + ".csr",
          "-subj",
          "/CN=" + (who.equals("server") ? "127.0.0.1" : "client"));
      Tools.run(
          dir,
          "openssl",
          "x509",
          "-req",
          "-in",
          who + ".csr",
          "-CA",
          "ca-cert.pem",
          "-CAkey",
          "ca-key.pem",
          "-CAcreateserial",
          "-out",
          who + "/" + who + "-cert.pem",
          "-days",
          "2",
          "-extfile",
          who + ".ext");
      Files.copy(dir.resolve("ca-cert.pem"), dir.resolve(who + "/ca-cert.pem"));
    }
    Files.copy(dir.resolve("ca-cert.pem"), dir.resolve("stranger/ca-cert.pem"));
  }

  private String uri(Served s, String certificates) {
    return "nbds://127.0.0.1:"
        + s.server.port()
        + "/?tls-certificates="
        + dir.resolve(certificates);
  }

  @Test
  void serves_nbds_clients_with_certificates_and_refuses_the_others() throws Exception {
    makeCertificates();
    Path image = Samples.qcow2(dir, "a.qcow2", "zstd");
    Tools.run(dir, "qemu-img", "convert", "-O", "raw", image.toString(), "expected.raw");
    ServerOptions.Builder options =
        ServerOptions.builder()
            .maxConnections(4)
            .tls(TlsCredentials.x509(dir.resolve("server"), true), true);
    try (Served s = Served.readOnly(image, options)) {
      String json = Tools.run(dir, "nbdinfo", "--json", uri(s, "client"));
      assertTrue(json.contains("\"export-size\": " + Samples.SIZE), json);
      Tools.run(dir, "nbdcopy", "--connections=4", "--requests=64", uri(s, "client"), "copy.raw");
      assertEquals(-1, Files.mismatch(dir.resolve("expected.raw"), dir.resolve("copy.raw")));

      Tools.Result plain = Tools.exec(dir, List.of("nbdinfo", "--json", s.uri()));
      assertTrue(plain.exitCode() != 0, "a client without TLS is refused: " + plain.stdout());
      Tools.Result stranger = Tools.exec(dir, List.of("nbdinfo", "--json", uri(s, "stranger")));
      assertTrue(stranger.exitCode() != 0, "verify-peer refuses a client without a certificate");
    }
  }

  @Test
  void reads_a_pkcs1_key_and_serves_without_verifying_peers() throws Exception {
    makeCertificates();
    Path server = dir.resolve("server");
    Tools.run(
        dir,
        "openssl",
        "rsa",
        "-in",
        server.resolve("server-key.pem").toString(),
        "-traditional",
        "-out",
        server.resolve("pkcs1.pem").toString());
    Files.move(
        server.resolve("pkcs1.pem"),
        server.resolve("server-key.pem"),
        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    assertTrue(
        Files.readString(server.resolve("server-key.pem")).contains("BEGIN RSA PRIVATE KEY"));
    Path image = Samples.qcow2(dir, "a.qcow2", null);
    Tools.run(
        dir, "qemu-img", "create", "-q", "-f", "qcow2", "dst.qcow2", String.valueOf(Samples.SIZE));
    try (Served s =
        Served.writable(
            dir.resolve("dst.qcow2"),
            ServerOptions.builder().tls(TlsCredentials.x509(server, false), false))) {
      Tools.run(
          dir, "nbdcopy", image.resolveSibling("a.qcow2.src.raw").toString(), uri(s, "stranger"));
    }
    String check = Tools.run(dir, "qemu-img", "check", "dst.qcow2");
    assertTrue(check.contains("No errors were found on the image."), check);
    Tools.run(
        dir, "qemu-img", "compare", "-f", "raw", "-F", "qcow2", "a.qcow2.src.raw", "dst.qcow2");
  }

  @Test
  void missing_or_wrong_credential_files_are_named() throws Exception {
    makeCertificates();
    Path server = dir.resolve("server");
    assertThrows(
        java.nio.file.NoSuchFileException.class,
        () -> TlsCredentials.x509(dir.resolve("client"), false));
    Files.delete(server.resolve("ca-cert.pem"));
    assertThrows(java.nio.file.NoSuchFileException.class, () -> TlsCredentials.x509(server, true));
    TlsCredentials.x509(server, false); // without verify-peer the authorities are not needed
    Files.writeString(
        server.resolve("server-key.pem"),
        "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n");
    java.io.IOException e =
        assertThrows(java.io.IOException.class, () -> TlsCredentials.x509(server, false));
    assertTrue(e.getMessage().contains("server-key.pem"), e.getMessage());
  }

  @Test
  void options_before_starttls_get_tls_reqd() throws Exception {
    makeCertificates();
    Path image = Samples.qcow2(dir, "a.qcow2", null);
    try (Served s =
            Served.readOnly(
                image,
                ServerOptions.builder()
                    .tls(TlsCredentials.x509(dir.resolve("server"), true), true));
        RawClient c = new RawClient(s.server.port()).greet()) {
      c.option(Nbd.OPT_LIST, new byte[0]);
      assertEquals(Nbd.REP_ERR_TLS_REQD, c.optionReply().type());
      c.option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
      assertEquals(Nbd.REP_ERR_TLS_REQD, c.optionReply().type());
      c.option(Nbd.OPT_EXPORT_NAME, new byte[0]);
      assertTrue(c.closedByServer());
    }
  }
}
