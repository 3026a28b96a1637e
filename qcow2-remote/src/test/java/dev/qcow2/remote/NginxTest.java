package dev.qcow2.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrowsExactly;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.hash.ContentHasher;
import dev.qcow2.hash.HashAlgorithm;
import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import java.io.InputStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Remote images read from a real web server: nginx on a loopback port. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NginxTest {
  private static final long MiB = 1 << 20;

  @TempDir Path dir;
  Path www;
  Nginx nginx;

  @BeforeEach
  void start() throws Exception {
    www = Files.createDirectories(dir.resolve("www"));
    nginx = new Nginx(www, dir.resolve("nginx"));
  }

  @AfterEach
  void stop() {
    nginx.close();
  }

  private DiskImage open(String name) throws Exception {
    return RemoteImages.open(
        nginx.uri(name), null, OpenOptions.defaults(), HttpRangeSourceTest.FAST);
  }

  @Test
  void zstdAndZlibImagesReadAsQemuImgReadsThem() throws Exception {
    TestData.writeRaw(dir.resolve("src.raw"), 40 * MiB, 3);
    for (String type : new String[] {"zstd", "zlib"}) {
      String name = type + ".qcow2";
      Qemu.img(
          www,
          "convert",
          "-c",
          "-O",
          "qcow2",
          "-o",
          "compression_type=" + type,
          "../src.raw",
          name);
      Path expected = Qemu.toRaw(www, name, "../" + type + ".raw");
      long before = nginx.bytesSent();
      try (DiskImage remote = open(name);
          DiskImage local = DiskImage.open(www.resolve(name))) {
        assertEquals("qcow2", remote.format());
        RemoteImagesTest.assertSameStatus(local, remote);
        RemoteImagesTest.assertReadsEqual(remote, expected, 4);
      }
      long sent = nginx.bytesSent() - before;
      assertTrue(
          sent <= Files.size(www.resolve(name)) + 1,
          "nginx sent " + sent + " bytes of " + Files.size(www.resolve(name)));
    }
  }

  @Test
  void aRawImageAndItsHashAsFromTheFile() throws Exception {
    TestData.writeRaw(www.resolve("disk.raw"), 16 * MiB + 512, 8);
    try (DiskImage remote = open("disk.raw");
        DiskImage local = DiskImage.open(www.resolve("disk.raw"))) {
      assertEquals("raw", remote.format());
      assertEquals(
          ContentHasher.hash(local, HashAlgorithm.SHA256, 3, null),
          ContentHasher.hash(remote, HashAlgorithm.SHA256, 3, null));
    }
  }

  @Test
  void aChainOfThreeServedFromOneFolderReadsThrough() throws Exception {
    Path repo = Files.createDirectories(www.resolve("repo"));
    TestData.writeRaw(dir.resolve("src.raw"), 8 * MiB, 4);
    Qemu.img(
        repo,
        "convert",
        "-c",
        "-O",
        "qcow2",
        "-o",
        "compression_type=zstd",
        "../../src.raw",
        "base.qcow2");
    Qemu.img(repo, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "mid.qcow2");
    Qemu.io(repo, "mid.qcow2", "write -P 0x44 1M 2M");
    Qemu.img(repo, "create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2");
    Qemu.io(repo, "top.qcow2", "write -P 0x55 2560k 1M", "write -z 5M 1M");
    Path expected = Qemu.toRaw(repo, "top.qcow2", "../../expected.raw");
    try (DiskImage top = open("repo/top.qcow2")) {
      RemoteImagesTest.assertReadsEqual(top, expected, 2);
    }
  }

  @Test
  void aFileReplacedWhileReadIsRefused() throws Exception {
    TestData.writeRaw(dir.resolve("src.raw"), 8 * MiB, 6);
    Qemu.img(www, "convert", "-O", "qcow2", "../src.raw", "img.qcow2");
    try (DiskImage img = open("img.qcow2")) {
      img.read(ByteBuffer.allocate(4096), 0);
      Path next = dir.resolve("next.qcow2");
      Files.copy(www.resolve("img.qcow2"), next);
      // nginx's ETag is its mtime and size: a replacement with another mtime has another ETag.
      Files.setLastModifiedTime(
          next, FileTime.fromMillis(Files.getLastModifiedTime(next).toMillis() + 10_000));
      Files.move(
          next,
          www.resolve("img.qcow2"),
          StandardCopyOption.REPLACE_EXISTING,
          StandardCopyOption.ATOMIC_MOVE);
      ObjectChangedException e =
          assertThrowsExactly(
              ObjectChangedException.class,
              () -> img.readFully(ByteBuffer.allocate((int) MiB), 6 * MiB));
      assertTrue(
          e.getMessage().startsWith(nginx.uri("img.qcow2") + ": changed while being read"),
          e.getMessage());
    }
  }

  @Test
  void httpsWithTheCertificateTrustedAndRefusedOtherwise() throws Exception {
    Path tls = Files.createDirectories(dir.resolve("tls"));
    Qemu.run(
        tls,
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem");
    TestData.writeRaw(dir.resolve("src.raw"), 6 * MiB, 12);
    Qemu.img(
        www,
        "convert",
        "-c",
        "-O",
        "qcow2",
        "-o",
        "compression_type=zstd",
        "../src.raw",
        "img.qcow2");
    Path expected = Qemu.toRaw(www, "img.qcow2", "../expected.raw");
    try (Nginx https =
        new Nginx(www, dir.resolve("nginx-tls"), tls.resolve("cert.pem"), tls.resolve("key.pem"))) {
      RemoteOptions trusting =
          RemoteOptions.builder()
              .environment(Map.of())
              .retryDelay(Duration.ofMillis(1))
              .maxRetries(1)
              .sslContext(trusting(tls.resolve("cert.pem")))
              .build();
      try (DiskImage img =
          RemoteImages.open(https.uri("img.qcow2"), null, OpenOptions.defaults(), trusting)) {
        RemoteImagesTest.assertReadsEqual(img, expected, 2);
      }
      // The JDK's default trust does not know a certificate made a moment ago.
      RemoteObjectException e =
          assertThrowsExactly(
              RemoteObjectException.class,
              () ->
                  RemoteImages.open(
                      https.uri("img.qcow2"),
                      null,
                      OpenOptions.defaults(),
                      RemoteOptions.builder()
                          .environment(Map.of())
                          .retryDelay(Duration.ofMillis(1))
                          .maxRetries(1)
                          .build()));
      HttpRangeSourceTest.assertOneLineNaming(e, https.uri("img.qcow2"));
      assertTrue(e.getMessage().contains("SSLHandshakeException"), e.getMessage());
      // The trust loaded at the first handshake checks as the trust it stands for: the
      // certificate, and the host name against it (it names 127.0.0.1, not localhost).
      X509ExtendedTrustManager test =
          (X509ExtendedTrustManager) trustManagers(tls.resolve("cert.pem"))[0];
      RemoteOptions lazy =
          RemoteOptions.builder()
              .environment(Map.of())
              .retryDelay(Duration.ofMillis(1))
              .maxRetries(1)
              .sslContext(LazyTrust.context(() -> test))
              .build();
      try (DiskImage img =
          RemoteImages.open(https.uri("img.qcow2"), null, OpenOptions.defaults(), lazy)) {
        RemoteImagesTest.assertReadsEqual(img, expected, 2);
      }
      URI byName = URI.create(https.uri("img.qcow2").toString().replace("127.0.0.1", "localhost"));
      RemoteObjectException wrongHost =
          assertThrowsExactly(
              RemoteObjectException.class,
              () -> RemoteImages.open(byName, null, OpenOptions.defaults(), lazy));
      assertTrue(wrongHost.getMessage().contains("SSLHandshakeException"), wrongHost.getMessage());
    }
  }

  private static SSLContext trusting(Path certificate) throws Exception {
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(null, trustManagers(certificate), null);
    return context;
  }

  private static TrustManager[] trustManagers(Path certificate) throws Exception {
    KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
    store.load(null, null);
    try (InputStream in = Files.newInputStream(certificate)) {
      store.setCertificateEntry(
          "test", CertificateFactory.getInstance("X.509").generateCertificate(in));
    }
    TrustManagerFactory tmf =
        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(store);
    return tmf.getTrustManagers();
  }

  @Test
  void aMissingFileIsOneTypedLine() {
    NoSuchObjectException e =
        assertThrowsExactly(NoSuchObjectException.class, () -> open("none.qcow2"));
    HttpRangeSourceTest.assertOneLineNaming(e, nginx.uri("none.qcow2"));
  }
}
