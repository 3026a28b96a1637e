package dev.qcow2.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Exception;
import dev.qcow2.Structure;
import dev.qcow2.UnsupportedImageException;
import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile images (as in the core's HostileImageTest: a valid image made by qemu-img, a few bytes
 * changed at spec offsets) served over HTTP: each is refused with the same exception, structure,
 * offset and message as the same file read locally, the URL in place of the path.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RemoteHostileImageTest {
  private static final long MiB = 1 << 20;
  private static final long COPIED = 1L << 63;
  private static final long OFFSET_MASK = 0x00fffffffffffe00L;

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

  @Test
  void version4() throws Exception {
    assertSameRefusal(plain(), img -> Poke.u32(img, 4, 4));
  }

  @Test
  void clusterBitsBelowTheMinimum() throws Exception {
    assertSameRefusal(plain(), img -> Poke.u32(img, 20, 8));
  }

  @Test
  void l1SizeHuge() throws Exception {
    assertSameRefusal(plain(), img -> Poke.u32(img, 36, 0x7fffffffL));
  }

  @Test
  void l1TablePastTheEnd() throws Exception {
    assertSameRefusal(plain(), img -> Poke.u64(img, 40, clusterPastEnd(img)));
  }

  @Test
  void refcountTableOffsetNotAligned() throws Exception {
    assertSameRefusal(plain(), img -> Poke.u64(img, 48, Poke.readU64(img, 48) + 512));
  }

  @Test
  void snapshotCountHuge() throws Exception {
    assertSameRefusal(plain(), img -> Poke.u32(img, 60, 0xffffffffL));
  }

  @Test
  void l2TablePastTheEnd() throws Exception {
    assertSameRefusal(
        plain(),
        img -> {
          long l1Entry = Poke.readU64(img, 40);
          Poke.u64(img, l1Entry, COPIED | clusterPastEnd(img));
        });
  }

  @Test
  void dataClusterNotAligned() throws Exception {
    assertSameRefusal(
        plain(),
        img -> {
          long l2Entry = Poke.readU64(img, Poke.readU64(img, 40)) & OFFSET_MASK;
          Poke.u64(img, l2Entry, Poke.readU64(img, l2Entry) + 512);
        });
  }

  @Test
  void zlibClusterWithGarbage() throws Exception {
    assertSameRefusal(
        compressed("zlib"), img -> Poke.bytes(img, firstCompressedCluster(img), filled(512, 0xff)));
  }

  @Test
  void zstdClusterWithGarbage() throws Exception {
    assertSameRefusal(
        compressed("zstd"), img -> Poke.bytes(img, firstCompressedCluster(img), filled(512, 0xa5)));
  }

  @Test
  void backingNamedAsJsonOrProtocol() throws Exception {
    for (String name :
        new String[] {"json:{\"file.filename\":\"/etc/passwd\"}", "nbd:127.0.0.1:10809"}) {
      Qemu.img(
          dir, "create", "-q", "-f", "qcow2", "-u", "-b", name, "-F", "raw", "top.qcow2", "1M");
      assertSameRefusal(dir.resolve("top.qcow2"), img -> {});
    }
  }

  @Test
  void anExternalDataFileIsNotFollowedFromARemoteImage() throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "data_file=data.raw", "img.qcow2", "1M");
    server.put("img.qcow2", dir.resolve("img.qcow2")).put("data.raw", dir.resolve("data.raw"));
    UnsupportedImageException e =
        assertThrows(UnsupportedImageException.class, () -> readAll(remote("img.qcow2")));
    assertEquals(Structure.EXTERNAL_DATA_FILE, e.structure());
    assertEquals(java.util.Set.of("/img.qcow2"), server.paths);
  }

  // ---------------------------------------------------------------------------------------------

  interface Damage {
    void apply(Path image) throws IOException;
  }

  /**
   * Damages {@code image}, reads it locally and over HTTP, and requires the same refusal: type,
   * structure, offset and message (with the URL for the path), within ten seconds each.
   */
  private void assertSameRefusal(Path image, Damage damage) throws Exception {
    damage.apply(image);
    String name = image.getFileName().toString();
    server.put(name, image);
    Qcow2Exception local = refusal(() -> readAll(DiskImage.open(image)));
    Qcow2Exception remote = refusal(() -> readAll(remote(name)));
    assertEquals(local.getClass(), remote.getClass(), remote.getMessage());
    assertEquals(local.structure(), remote.structure(), remote.getMessage());
    assertEquals(local.offset(), remote.offset(), remote.getMessage());
    assertEquals(
        local.getMessage().replace(image.toString(), server.uri(name).toString()),
        remote.getMessage());
  }

  private static Qcow2Exception refusal(Executable read) {
    return assertTimeoutPreemptively(
        Duration.ofSeconds(10), () -> assertThrows(Qcow2Exception.class, read));
  }

  private DiskImage remote(String name) throws IOException {
    return RemoteImages.open(
        server.uri(name), null, OpenOptions.defaults(), HttpRangeSourceTest.FAST);
  }

  private static void readAll(DiskImage image) throws IOException {
    try (DiskImage img = image) {
      ByteBuffer buf = ByteBuffer.allocate((int) MiB);
      for (long at = 0; at < img.size(); at += buf.capacity()) {
        buf.clear();
        img.read(buf, at);
      }
    }
  }

  private Path plain() {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "img.qcow2", "8M");
    Qemu.io(dir, "img.qcow2", "write -P 0x11 0 5000", "write -P 0x22 70000 100000");
    return dir.resolve("img.qcow2");
  }

  private Path compressed(String type) throws IOException {
    TestData.writeRaw(dir.resolve("src.raw"), 2 * MiB, 42);
    Qemu.img(
        dir,
        "convert",
        "-c",
        "-O",
        "qcow2",
        "-o",
        "compression_type=" + type,
        "src.raw",
        "img.qcow2");
    Files.delete(dir.resolve("src.raw"));
    return dir.resolve("img.qcow2");
  }

  /** The host offset of guest cluster 0, which must be compressed (64 KiB clusters). */
  private static long firstCompressedCluster(Path img) throws IOException {
    long l2 = Poke.readU64(img, Poke.readU64(img, 40)) & OFFSET_MASK;
    long entry = Poke.readU64(img, l2);
    assertNotNull((entry & (1L << 62)) != 0 ? entry : null, "guest cluster 0 is compressed");
    // cluster_bits 16: the host offset is the low 62 - (16 - 8) = 54 bits.
    return entry & ((1L << 54) - 1);
  }

  private static long clusterPastEnd(Path img) throws IOException {
    long cluster = 1L << Poke.readU32(img, 20);
    return ((Files.size(img) + cluster - 1) & -cluster) + cluster;
  }

  private static byte[] filled(int n, int value) {
    byte[] b = new byte[n];
    Arrays.fill(b, (byte) value);
    return b;
  }
}
