package dev.qcow2.tools.canga;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import dev.qcow2.tools.Cli;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.GZIPOutputStream;
import org.apache.commons.compress.compressors.bzip2.BZip2CompressorOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tukaani.xz.LZMA2Options;
import org.tukaani.xz.XZOutputStream;

/**
 * canga deploy: raw, gzip, bzip2 and xz raw disks and qcow2 images, from files, from a local HTTP
 * server (cached) and from the repository, into files that equal qemu-img's raw view of the source
 * byte for byte, with hooks.
 */
class DeployTest {
  @TempDir Path dir;
  Canga canga;
  HttpServer server;
  final AtomicInteger requests = new AtomicInteger();
  byte[] disk;

  @BeforeEach
  void sources() throws Exception {
    canga = new Canga(dir);
    canga.config("");
    TestData.writeRaw(dir.resolve("disk.raw"), 2L << 20, 42);
    disk = Files.readAllBytes(dir.resolve("disk.raw"));
    try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(dir.resolve("disk.raw.gz")))) {
      o.write(disk);
    }
    try (OutputStream o =
        new BZip2CompressorOutputStream(Files.newOutputStream(dir.resolve("disk.raw.bz2")))) {
      o.write(disk);
    }
    try (OutputStream o =
        new XZOutputStream(
            Files.newOutputStream(dir.resolve("disk.raw.xz")), new LZMA2Options(1))) {
      o.write(disk);
    }
    Qemu.img(dir, "convert", "-c", "-O", "qcow2", "disk.raw", "disk.qcow2");
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext(
        "/",
        ex -> {
          requests.incrementAndGet();
          Path f = dir.resolve(ex.getRequestURI().getPath().substring(1));
          if (!Files.isRegularFile(f)) {
            ex.sendResponseHeaders(404, -1);
            ex.close();
            return;
          }
          ex.sendResponseHeaders(200, Files.size(f));
          try (OutputStream o = ex.getResponseBody()) {
            Files.copy(f, o);
          }
        });
    server.start();
  }

  @AfterEach
  void stop() {
    server.stop(0);
  }

  @ParameterizedTest
  @ValueSource(strings = {"disk.raw", "disk.raw.gz", "disk.raw.bz2", "disk.raw.xz", "disk.qcow2"})
  void deploysEveryTypeFromFilesAndUrlsAsQemuImgReadsIt(String name) throws Exception {
    String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(disk));
    String type =
        name.endsWith(".gz")
            ? "raw+gz"
            : name.endsWith(".bz2")
                ? "raw+bz2"
                : name.endsWith(".xz") ? "raw+xz" : name.endsWith(".qcow2") ? "qcow2" : "raw";
    Path target = dir.resolve("target-file.img");
    Files.write(target, new byte[3 << 20]); // an old, longer file: it must end up the disk exactly
    Cli.Result r = canga.ok("deploy", dir.resolve(name).toString(), target.toString());
    assertTrue(
        r.stdout().contains("(" + type + ")") && r.stdout().contains("sha256 " + sha), r.stdout());
    assertArrayEquals(disk, Files.readAllBytes(target), name + " from a file");
    Files.delete(target);
    String url = "http://127.0.0.1:" + server.getAddress().getPort() + "/" + name;
    canga.ok("deploy", url, target.toString(), "--type", type);
    assertArrayEquals(disk, Files.readAllBytes(target), name + " from a URL");
    int before = requests.get();
    canga.ok("deploy", url, dir.resolve("again.img").toString());
    assertEquals(before, requests.get(), "the second deploy uses the cache");
    assertArrayEquals(disk, Files.readAllBytes(dir.resolve("again.img")));
    // qemu-img reads the source the same way.
    if (name.endsWith(".qcow2") || name.endsWith(".raw")) {
      assertArrayEquals(Files.readAllBytes(Qemu.toRaw(dir, name, "qemu.raw")), disk);
    }
  }

  @Test
  void deploysARepositoryImageAndRunsHooksInNameOrder() throws Exception {
    String sha = Canga.sha(canga.ok("add", dir.resolve("disk.qcow2").toString(), "--tag", "base"));
    Path hooks = Files.createDirectories(dir.resolve("hooks"));
    hook(hooks, "20-second", "echo second >> " + dir.resolve("order.txt"));
    hook(
        hooks,
        "10-first",
        "echo first >> "
            + dir.resolve("order.txt")
            + "\necho \"$TARGET_DISK_DEVICE|$IMAGE_SOURCE|$IMAGE_TYPE|$IMAGE_SHA256\" > "
            + dir.resolve("env.txt"));
    Files.writeString(hooks.resolve("README"), "not executable: skipped");
    Path target = dir.resolve("out.img");
    canga.ok("deploy", "base", target.toString(), "--hooks", hooks.toString());
    assertArrayEquals(disk, Files.readAllBytes(target));
    assertEquals("first\nsecond\n", Files.readString(dir.resolve("order.txt")));
    assertEquals(target + "|base|qcow2|" + sha + "\n", Files.readString(dir.resolve("env.txt")));
  }

  @Test
  void aFailingHookOrSourceFailsTheDeployNamingIt() throws Exception {
    Path hooks = Files.createDirectories(dir.resolve("hooks"));
    hook(hooks, "30-fail", "exit 3");
    Cli.Result r =
        canga.run(
            "deploy",
            dir.resolve("disk.raw").toString(),
            dir.resolve("out.img").toString(),
            "--hooks",
            hooks.toString());
    assertEquals(255, r.exitCode());
    assertEquals("hook 30-fail failed with exit code 3\n", r.stderr());
    // A truncated xz stream: the message says how far the deploy got.
    byte[] xz = Files.readAllBytes(dir.resolve("disk.raw.xz"));
    Files.write(dir.resolve("cut.xz"), java.util.Arrays.copyOf(xz, xz.length / 2));
    Cli.Result cut =
        canga.run("deploy", dir.resolve("cut.xz").toString(), dir.resolve("cut.img").toString());
    assertEquals(255, cut.exitCode());
    assertTrue(
        cut.stderr()
            .matches(
                "(?s)deploy of .*cut\\.xz \\(raw\\+xz\\) to .*cut\\.img failed after \\d+ bytes were written: .*"),
        cut.stderr());
    String url = "http://127.0.0.1:" + server.getAddress().getPort() + "/missing.raw";
    Cli.Result missing = canga.run("deploy", url, dir.resolve("m.img").toString());
    assertEquals(255, missing.exitCode());
    assertTrue(missing.stderr().contains("HTTP 404"), missing.stderr());
    Cli.Result unknown = canga.run("deploy", "no-such-image", dir.resolve("m.img").toString());
    assertEquals(255, unknown.exitCode(), unknown.stderr());
    assertTrue(unknown.stderr().startsWith("Image not found: no-such-image"), unknown.stderr());
  }

  private static void hook(Path hooks, String name, String body) throws IOException {
    Path p = hooks.resolve(name);
    Files.writeString(p, "#!/bin/sh\n" + body + "\n");
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  /**
   * A block device (a loop device over a file full of old bytes): zeroed with blkdiscard, then only
   * the disk's data written. Needs root and loop devices, as CI's guest job has.
   */
  @org.junit.jupiter.api.Tag("slow")
  @Test
  void deploysOntoABlockDevice() throws Exception {
    Path backing = dir.resolve("device.img");
    byte[] old = new byte[3 << 20];
    java.util.Arrays.fill(old, (byte) 0x55);
    Files.write(backing, old);
    String loop = Qemu.run(dir, "losetup", "-f", "--show", backing.toString()).trim();
    try {
      for (String name : new String[] {"disk.raw.gz", "disk.qcow2"}) {
        Files.write(backing, old);
        Qemu.run(dir, "blockdev", "--flushbufs", loop);
        canga.ok("deploy", dir.resolve(name).toString(), loop);
        byte[] got = new byte[disk.length];
        try (var in = Files.newInputStream(Path.of(loop))) {
          assertEquals(disk.length, in.readNBytes(got, 0, got.length));
        }
        assertArrayEquals(disk, got, name + " on " + loop);
      }
    } finally {
      Qemu.exec(dir, java.util.List.of("losetup", "-d", loop));
    }
  }
}
