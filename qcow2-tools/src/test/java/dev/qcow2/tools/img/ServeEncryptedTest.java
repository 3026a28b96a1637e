package dev.qcow2.tools.img;

import static dev.qcow2.tools.img.ServeFixture.freePort;
import static dev.qcow2.tools.img.ServeFixture.stopBySignal;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code qcow2 serve} of a LUKS-encrypted image, unlocked with qemu-nbd's {@code --object secret}
 * and {@code --image-opts}: clients read what qemu-img decrypts, what they write qemu decrypts
 * back, and a wrong or missing secret is refused at start as qemu-nbd refuses it.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ServeEncryptedTest {
  private static final String SECRET = LuksImages.SECRET;

  @TempDir Path dir;

  private ServeFixture serve;
  private LuksImages luks;

  @BeforeEach
  void fixture() {
    serve = new ServeFixture(dir);
    luks = new LuksImages(dir);
  }

  private String path(String name) {
    return luks.path(name);
  }

  private String opts(String name) {
    return luks.opts(name);
  }

  /** An 8 MiB encrypted image qemu made and wrote, and qemu-img's decryption of it in e.raw. */
  private void qemuImage() {
    luks.create("e.qcow2", "8M", "write -P 0x61 0 300k", "write -P 0x62 5M 7k");
    luks.decrypt("e.qcow2", "raw", "e.raw");
  }

  @Test
  void clients_read_the_decrypted_disk_and_their_writes_are_encrypted_as_qemu_reads_them()
      throws Exception {
    qemuImage();
    byte[] expected = Files.readAllBytes(dir.resolve("e.raw"));
    int port = freePort();
    String uri = "nbd://127.0.0.1:" + port + "/";
    Process server =
        serve.servePersistent(port, "--object", SECRET, "--image-opts", opts("e.qcow2"));
    try {
      serve.ok("nbdcopy", uri, "copy.raw");
      assertEquals(-1, Files.mismatch(dir.resolve("e.raw"), dir.resolve("copy.raw")));
      serve.ok(
          "qemu-io",
          "-f",
          "raw",
          "-c",
          "write -P 0x63 1M 64k",
          "-c",
          "write -P 0x64 4095k 3k",
          "-c",
          "write -z 5M 1M",
          uri);
      Arrays.fill(expected, 1 << 20, (1 << 20) + (64 << 10), (byte) 0x63);
      Arrays.fill(expected, 4095 << 10, 4098 << 10, (byte) 0x64);
      Arrays.fill(expected, 5 << 20, 6 << 20, (byte) 0);
      serve.ok("qemu-img", "convert", "-f", "raw", "-O", "raw", uri, "served.raw");
      assertTrue(Arrays.equals(expected, Files.readAllBytes(dir.resolve("served.raw"))));
    } finally {
      stopBySignal(server);
    }
    Files.write(dir.resolve("expected.raw"), expected);
    luks.assertClean("e.qcow2");
    luks.assertIdentical("e.qcow2", "driver=raw,file.filename=" + path("expected.raw"));
  }

  @Test
  void a_wrong_or_missing_secret_is_refused_at_start_as_qemu_nbd_refuses_it() throws Exception {
    qemuImage();
    String wrong = "secret,id=sec0,data=wrong";
    Cli.Result r =
        Cli.run("qcow2", "serve", "-p", "0", "--object", wrong, "--image-opts", opts("e.qcow2"));
    assertEquals(1, r.exitCode());
    assertEquals(
        "qcow2: Could not open '"
            + path("e.qcow2")
            + "': Invalid password, cannot unlock any keyslot\n",
        r.stderr());
    Qemu.Result q = qemuNbdRefusal("--object", wrong, "--image-opts", opts("e.qcow2"));
    assertTrue(q.stderr().contains("Invalid password, cannot unlock any keyslot"), q.stderr());

    Cli.Result none = Cli.run("qcow2", "serve", "-p", "0", "-r", path("e.qcow2"));
    assertEquals(1, none.exitCode());
    String noSecret = "Parameter 'encrypt.key-secret' is required for cipher";
    assertEquals(
        "qcow2: Could not open '" + path("e.qcow2") + "': " + noSecret + "\n", none.stderr());
    assertTrue(qemuNbdRefusal("-r", path("e.qcow2")).stderr().contains(noSecret));

    Cli.Result unknown =
        Cli.run(
            "qcow2",
            "serve",
            "-p",
            "0",
            "--object",
            "secret,id=sec1,data=abc",
            "--image-opts",
            opts("e.qcow2"));
    assertEquals(1, unknown.exitCode());
    assertEquals("qcow2: No secret with id 'sec0'\n", unknown.stderr());
  }

  /** qemu-nbd with {@code args}, which must refuse to start. */
  private Qemu.Result qemuNbdRefusal(String... args) throws Exception {
    List<String> cmd =
        new ArrayList<>(List.of("qemu-nbd", "-b", "127.0.0.1", "-p", "" + freePort()));
    cmd.addAll(List.of(args));
    Qemu.Result q = Qemu.exec(dir, cmd);
    assertEquals(1, q.exitCode(), q.stderr());
    return q;
  }

  @Test
  void a_secret_and_tls_credentials_are_taken_together() throws Exception {
    qemuImage();
    Path tls = serve.tlsCredentials();
    int port = freePort();
    Process server =
        serve.servePersistent(
            port,
            "--object",
            SECRET,
            "--object",
            "tls-creds-x509,id=tls0,dir=" + tls + ",endpoint=server,verify-peer=off",
            "--tls-creds",
            "tls0",
            "--image-opts",
            opts("e.qcow2"));
    try {
      serve.ok("nbdcopy", "nbds://127.0.0.1:" + port + "/?tls-certificates=" + tls, "copy.raw");
    } finally {
      stopBySignal(server);
    }
    assertEquals(-1, Files.mismatch(dir.resolve("e.raw"), dir.resolve("copy.raw")));
  }
}
