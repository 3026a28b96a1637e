package dev.qcow2.remote;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrowsExactly;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.BlockStatus;
import dev.qcow2.CorruptImageException;
import dev.qcow2.DiskImage;
import dev.qcow2.ImageInfo;
import dev.qcow2.ImageLimitException;
import dev.qcow2.OpenOptions;
import dev.qcow2.Structure;
import dev.qcow2.UnsupportedImageException;
import dev.qcow2.hash.ContentHasher;
import dev.qcow2.hash.HashAlgorithm;
import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Remote images read through {@link RemoteImages} from {@link RangeServer}: every read equals
 * qemu-img's raw conversion of the same file, chains resolve within their folder, and what is
 * fetched follows what is read (counted at the server).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RemoteImagesTest {
  private static final long MiB = 1 << 20;

  @TempDir Path dir;
  RangeServer server;

  @BeforeEach
  void start() throws IOException {
    server = new RangeServer();
  }

  @AfterEach
  void stop() {
    server.close();
  }

  private DiskImage open(String name) throws IOException {
    return RemoteImages.open(
        server.uri(name), null, OpenOptions.defaults(), HttpRangeSourceTest.FAST);
  }

  @ParameterizedTest
  @ValueSource(strings = {"raw", "plain", "zlib", "zstd"})
  void everyReadEqualsQemuImgsRawConversion(String kind) throws Exception {
    TestData.writeRaw(dir.resolve("src.raw"), 24 * MiB + 4096, 5);
    String name = "disk." + (kind.equals("raw") ? "raw" : "qcow2");
    switch (kind) {
      case "raw" -> Files.copy(dir.resolve("src.raw"), dir.resolve(name));
      case "plain" -> Qemu.img(dir, "convert", "-O", "qcow2", "src.raw", name);
      default ->
          Qemu.img(
              dir,
              "convert",
              "-c",
              "-O",
              "qcow2",
              "-o",
              "compression_type=" + kind,
              "src.raw",
              name);
    }
    Path expected = Qemu.toRaw(dir, name, "expected.raw");
    server.put(name, dir.resolve(name));
    try (DiskImage remote = open(name);
        DiskImage local = DiskImage.open(dir.resolve(name))) {
      assertEquals(kind.equals("raw") ? "raw" : "qcow2", remote.format());
      assertEquals(server.uri(name).toString(), remote.filename());
      assertEquals(Files.size(expected), remote.size());
      assertSameStatus(local, remote);
      assertReadsEqual(remote, expected, 4);
    }
    // Read once: the cache and the shared fetches keep each byte from being sent twice.
    assertTrue(
        server.bytesSent.get() <= Files.size(dir.resolve(name)) + 1,
        "sent " + server.bytesSent.get());
  }

  @Test
  void aChainOfThreeInOneFolderReadsThrough() throws Exception {
    Path folder = Files.createDirectories(dir.resolve("repo"));
    TestData.writeRaw(dir.resolve("src.raw"), 8 * MiB, 9);
    Qemu.img(folder, "convert", "-O", "qcow2", "../src.raw", "base.qcow2");
    Qemu.img(folder, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "mid.qcow2");
    Qemu.io(folder, "mid.qcow2", "write -P 0x22 1M 3M");
    Qemu.img(folder, "create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2");
    Qemu.io(folder, "top.qcow2", "write -P 0x33 2M 512k", "write -z 6M 1M");
    Path expected = Qemu.toRaw(folder, "top.qcow2", "../expected.raw");
    for (String n : List.of("base.qcow2", "mid.qcow2", "top.qcow2")) {
      server.put("repo/" + n, folder.resolve(n));
    }
    try (DiskImage top = open("repo/top.qcow2");
        DiskImage local = DiskImage.open(folder.resolve("top.qcow2"))) {
      assertEquals(server.uri("repo/mid.qcow2").toString(), top.backing().filename());
      assertEquals(server.uri("repo/base.qcow2").toString(), top.backing().backing().filename());
      ImageInfo info = top.info();
      assertEquals("mid.qcow2", info.backingFilename());
      assertEquals(server.uri("repo/mid.qcow2").toString(), info.fullBackingFilename());
      assertSameStatus(local, top);
      assertReadsEqual(top, expected, 3);
    }
  }

  @Test
  void aBackingNameOutsideTheFolderIsRefusedEvenWhenTheServerHasIt() throws Exception {
    Path folder = Files.createDirectories(dir.resolve("repo"));
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "base.qcow2", "1M");
    server.put("base.qcow2", dir.resolve("base.qcow2"));
    server.put("repo/base.qcow2", dir.resolve("base.qcow2"));
    String absolute = "/base.qcow2";
    String otherHost = "//localhost:" + server.uri("x").getPort() + "/repo/base.qcow2";
    for (String name :
        List.of("../base.qcow2", "sub/../../base.qcow2", absolute, otherHost, "..\\base.qcow2")) {
      Qemu.img(
          folder,
          "create",
          "-q",
          "-f",
          "qcow2",
          "-u",
          "-b",
          name,
          "-F",
          "qcow2",
          "top.qcow2",
          "1M");
      server.put("repo/top.qcow2", folder.resolve("top.qcow2"));
      server.resetCounts();
      UnsupportedImageException e =
          assertThrowsExactly(UnsupportedImageException.class, () -> open("repo/top.qcow2"));
      assertEquals(Structure.BACKING_FILE_NAME, e.structure());
      assertTrue(
          e.getMessage()
              .startsWith(server.uri("repo/top.qcow2") + ": backing file name \"" + name + "\""),
          e.getMessage());
      assertTrue(!e.getMessage().contains("\n"), e.getMessage());
      assertEquals(
          java.util.Set.of("/repo/top.qcow2"), server.paths, "only the image itself was asked for");
    }
    // Protocol names stay refused, by the core's rule.
    Qemu.img(
        folder,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-u",
        "-b",
        server.uri("repo/base.qcow2").toString(),
        "-F",
        "qcow2",
        "top.qcow2",
        "1M");
    server.put("repo/top.qcow2", folder.resolve("top.qcow2"));
    UnsupportedImageException e =
        assertThrowsExactly(UnsupportedImageException.class, () -> open("repo/top.qcow2"));
    assertTrue(e.getMessage().contains("protocol or JSON pseudo-file name"), e.getMessage());
    // A name in the folder, or below it, is followed.
    Qemu.img(
        folder,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-u",
        "-b",
        "./base.qcow2",
        "-F",
        "qcow2",
        "top.qcow2",
        "1M");
    server.put("repo/top.qcow2", folder.resolve("top.qcow2"));
    try (DiskImage top = open("repo/top.qcow2")) {
      assertEquals(server.uri("repo/base.qcow2").toString(), top.backing().filename());
    }
  }

  @Test
  void backingNamesResolveAsRelativeReferencesInTheImagesFolder() throws Exception {
    URI image = URI.create("https://cdn.example/repo/v1/top.qcow2?X-Amz-Signature=abc#x");
    assertEquals(
        "https://cdn.example/repo/v1/base.qcow2",
        RemoteImages.resolveInFolder(image, "base.qcow2").toString());
    assertEquals(
        "https://cdn.example/repo/v1/my%20disk%3F.qcow2",
        RemoteImages.resolveInFolder(image, "my disk?.qcow2").toString());
    assertEquals(
        "https://cdn.example/repo/v1/sub/b.qcow2",
        RemoteImages.resolveInFolder(image, "./sub/b.qcow2").toString());
    for (String refused :
        List.of(
            "../b.qcow2",
            "/repo/v1/b.qcow2",
            "//other.example/repo/v1/b.qcow2",
            "a\\..\\b",
            "sub/../../b")) {
      UnsupportedImageException e =
          assertThrowsExactly(
              UnsupportedImageException.class,
              () -> RemoteImages.resolveInFolder(image, refused),
              refused);
      assertEquals(Structure.BACKING_FILE_NAME, e.structure());
    }
  }

  @Test
  void loopsAndDeepChainsAreRefused() throws Exception {
    Qemu.img(
        dir, "create", "-q", "-f", "qcow2", "-u", "-b", "b.qcow2", "-F", "qcow2", "a.qcow2", "1M");
    Qemu.img(
        dir, "create", "-q", "-f", "qcow2", "-u", "-b", "a.qcow2", "-F", "qcow2", "b.qcow2", "1M");
    server.put("a.qcow2", dir.resolve("a.qcow2")).put("b.qcow2", dir.resolve("b.qcow2"));
    CorruptImageException loop =
        assertThrowsExactly(CorruptImageException.class, () -> open("a.qcow2"));
    assertEquals(Structure.BACKING_CHAIN, loop.structure());
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "d0.qcow2", "1M");
    server.put("d0.qcow2", dir.resolve("d0.qcow2"));
    for (int i = 1; i <= 3; i++) {
      Qemu.img(
          dir,
          "create",
          "-q",
          "-f",
          "qcow2",
          "-b",
          "d" + (i - 1) + ".qcow2",
          "-F",
          "qcow2",
          "d" + i + ".qcow2");
      server.put("d" + i + ".qcow2", dir.resolve("d" + i + ".qcow2"));
    }
    OpenOptions shallow = OpenOptions.builder().maxChainDepth(2).build();
    ImageLimitException deep =
        assertThrowsExactly(
            ImageLimitException.class,
            () ->
                RemoteImages.open(server.uri("d3.qcow2"), null, shallow, HttpRangeSourceTest.FAST));
    assertEquals(Structure.BACKING_CHAIN, deep.structure());
  }

  @Test
  void aTebibyteImageHolding8MiBIsMappedFromLittleAndReadFromWhatIsAllocated() throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "big.qcow2", "1T");
    Qemu.io(dir, "big.qcow2", "write -P 0x5a 0 4M", "write -P 0xa5 512G 4M");
    Path file = dir.resolve("big.qcow2");
    server.put("big.qcow2", file);
    long statusRuns = 0;
    try (DiskImage big = open("big.qcow2")) {
      ImageInfo info = big.info();
      assertEquals(1L << 40, info.virtualSize());
      for (long at = 0; at < big.size(); ) {
        BlockStatus s = big.blockStatus(at, big.size() - at);
        at += s.length();
        statusRuns++;
      }
      assertTrue(
          server.bytesSent.get() < 512 * 1024,
          "info and map fetched " + server.bytesSent.get() + " bytes");
      server.resetCounts();
      try (DiskImage local = DiskImage.open(file)) {
        assertEquals(
            ContentHasher.hash(local, HashAlgorithm.TREE_SHA256, 2, null),
            ContentHasher.hash(big, HashAlgorithm.TREE_SHA256, 2, null));
      }
    }
    assertTrue(statusRuns >= 3, "runs: " + statusRuns);
    long sent = server.bytesSent.get();
    assertTrue(
        sent >= 8 * MiB && sent <= Files.size(file),
        "the hash fetched "
            + sent
            + " bytes of a "
            + Files.size(file)
            + "-byte file holding 8 MiB");
  }

  @Test
  void rawMayBeAskedForAndSnapshotsOfRawAreRefused() throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "img.qcow2", "1M");
    server.put("img.qcow2", dir.resolve("img.qcow2"));
    try (DiskImage asRaw =
        RemoteImages.open(
            server.uri("img.qcow2"), "raw", OpenOptions.defaults(), HttpRangeSourceTest.FAST)) {
      assertEquals("raw", asRaw.format());
      assertEquals(
          (Files.size(dir.resolve("img.qcow2")) + 511) & ~511L,
          asRaw.size(),
          "whole sectors, as qemu");
      assertNull(asRaw.backing());
    }
    TestData.writeRaw(dir.resolve("d.raw"), MiB, 1);
    server.put("d.raw", dir.resolve("d.raw"));
    assertThrowsExactly(
        dev.qcow2.NotQcow2Exception.class,
        () ->
            RemoteImages.open(
                server.uri("d.raw"), "qcow2", OpenOptions.defaults(), HttpRangeSourceTest.FAST));
    assertThrowsExactly(
        UnsupportedOperationException.class,
        () ->
            RemoteImages.open(
                server.uri("d.raw"),
                null,
                OpenOptions.builder().snapshot("s").build(),
                HttpRangeSourceTest.FAST));
    assertThrowsExactly(
        IllegalArgumentException.class,
        () ->
            RemoteImages.open(
                server.uri("d.raw"),
                null,
                OpenOptions.builder().writable(true).build(),
                HttpRangeSourceTest.FAST));
    assertThrowsExactly(
        IllegalArgumentException.class,
        () -> RemoteImages.open(URI.create("ftp://127.0.0.1/d.raw"), OpenOptions.defaults()));
  }

  @Test
  void aMissingImageIsOneTypedLine() {
    NoSuchObjectException e =
        assertThrowsExactly(NoSuchObjectException.class, () -> open("nothing.qcow2"));
    HttpRangeSourceTest.assertOneLineNaming(e, server.uri("nothing.qcow2"));
  }

  /** Every block status run of the remote image equals the local one's, but for the file names. */
  static void assertSameStatus(DiskImage local, DiskImage remote) throws IOException {
    for (long at = 0; at < local.size(); ) {
      BlockStatus l = local.blockStatus(at, local.size() - at);
      BlockStatus r = remote.blockStatus(at, remote.size() - at);
      assertEquals(l.length(), r.length(), "run at " + at);
      assertEquals(l.depth(), r.depth(), "run at " + at);
      assertEquals(l.zero(), r.zero(), "run at " + at);
      assertEquals(l.data(), r.data(), "run at " + at);
      at += l.length();
    }
  }

  /**
   * Reads the whole disk in 1 MiB chunks from {@code threads} threads and compares with {@code
   * expected}.
   */
  static void assertReadsEqual(DiskImage image, Path expected, int threads) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try (FileChannel raw = FileChannel.open(expected)) {
      List<Future<?>> tasks = new ArrayList<>();
      long chunks = (image.size() + MiB - 1) / MiB;
      for (int t = 0; t < threads; t++) {
        int first = t;
        tasks.add(
            pool.submit(
                () -> {
                  ByteBuffer got = ByteBuffer.allocate((int) MiB);
                  ByteBuffer want = ByteBuffer.allocate((int) MiB);
                  for (long c = first; c < chunks; c += threads) {
                    got.clear().limit((int) Math.min(MiB, image.size() - c * MiB));
                    want.clear().limit(got.limit());
                    image.readFully(got, c * MiB);
                    raw.read(want, c * MiB);
                    assertArrayEquals(want.array(), got.array(), "chunk at " + c * MiB);
                  }
                  return null;
                }));
      }
      for (Future<?> f : tasks) {
        f.get();
      }
    } finally {
      pool.shutdownNow();
    }
  }
}
