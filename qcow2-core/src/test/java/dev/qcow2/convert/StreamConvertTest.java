package dev.qcow2.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.CompressionType;
import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.QemuAssert;
import dev.qcow2.testing.TestData;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Images written to streams that cannot seek ({@link ImageStream}) and read from them: equal to
 * their source and to the file conversion, clean by qemu-img check, the same bytes whatever the
 * number of threads.
 */
class StreamConvertTest {
  @TempDir Path dir;

  /**
   * 20 MiB of varied data, then qemu-io's zeros, a discarded hole and zero-filled data; size not a
   * whole cluster.
   */
  private Path qcow2Source(String createOptions) {
    Path raw = dir.resolve("data.raw");
    try {
      TestData.writeRaw(raw, (24L << 20) + 4608, 7);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    Qemu.img(dir, "convert", "-O", "qcow2", "-o", createOptions, "data.raw", "src.qcow2");
    Qemu.io(
        dir,
        "src.qcow2",
        "write -z 1M 2M",
        "discard 5M 3M",
        "write -P 0 10M 1M",
        "write -P 0x5a 22M 64k");
    return dir.resolve("src.qcow2");
  }

  private static ConvertOptions.Builder options(String format, String compression, int threads) {
    ConvertOptions.Builder b =
        ConvertOptions.builder()
            .targetFormat(format.equals("raw") ? "raw" : "qcow2")
            .threads(threads);
    if (!compression.equals("none")) {
      b.compress(true)
          .createOptions(
              CreateOptions.builder(0)
                  .compressionType(
                      compression.equals("zstd") ? CompressionType.ZSTD : CompressionType.ZLIB)
                  .build());
    }
    return b;
  }

  private static void toStream(Path source, Path out, ConvertOptions o) throws IOException {
    try (DiskImage src = DiskImage.open(source);
        FileChannel ch =
            FileChannel.open(
                out,
                StandardOpenOption.CREATE,
                StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING);
        ImageStream stream = ImageStream.of(ch)) {
      ImageConverter.convert(src, stream, o);
    }
  }

  private void assertClean(String image) {
    QemuAssert.assertClean(dir, image);
  }

  private void assertSameDisk(String a, String b) {
    QemuAssert.assertSameDisk(dir, a, b);
  }

  @ParameterizedTest(name = "{0}, compression {1}, {2} threads")
  @CsvSource({
    "raw, none, 2",
    "qcow2, none, 1",
    "qcow2, none, 3",
    "qcow2, zlib, 2",
    "qcow2, zstd, 4"
  })
  @Timeout(120)
  void streamEqualsSourceAndFileConversion(String format, String compression, int threads)
      throws IOException {
    Path src = qcow2Source("cluster_size=65536");
    ConvertOptions o = options(format, compression, threads).build();
    toStream(src, dir.resolve("stream.out"), o);
    try (DiskImage image = DiskImage.open(src)) {
      ImageConverter.convert(image, dir.resolve("file.out"), o);
    }
    if (format.equals("qcow2")) {
      assertClean("stream.out");
    }
    assertSameDisk("src.qcow2", "stream.out");
    assertSameDisk("file.out", "stream.out");
  }

  @ParameterizedTest(name = "{0}, compression {1}")
  @CsvSource({
    "'cluster_size=4096,refcount_bits=1', zstd",
    "'cluster_size=512,refcount_bits=2', zlib",
    "'cluster_size=65536,extended_l2=on', none",
    "'cluster_size=65536,extended_l2=on', zstd",
    "'compat=0.10,cluster_size=2097152', zlib",
    "'cluster_size=65536,refcount_bits=64', none",
    "'cluster_size=4096,refcount_bits=64', zstd"
  })
  @Timeout(180)
  void everyLayoutIsClean(String createOptions, String compression) throws IOException {
    Path src = qcow2Source("cluster_size=65536");
    CreateOptions.Builder co = CreateOptions.builder(0);
    for (String kv : createOptions.split(",")) {
      String[] p = kv.split("=");
      switch (p[0]) {
        case "cluster_size" -> co.clusterSize(Integer.parseInt(p[1]));
        case "refcount_bits" -> co.refcountBits(Integer.parseInt(p[1]));
        case "extended_l2" -> co.extendedL2(true);
        case "compat" -> co.version(2);
        default -> throw new IllegalArgumentException(kv);
      }
    }
    if (!compression.equals("none")) {
      co.compressionType(compression.equals("zstd") ? CompressionType.ZSTD : CompressionType.ZLIB);
    }
    ConvertOptions o =
        ConvertOptions.builder()
            .targetFormat("qcow2")
            .threads(2)
            .compress(!compression.equals("none"))
            .createOptions(co.build())
            .build();
    toStream(src, dir.resolve("stream.qcow2"), o);
    assertClean("stream.qcow2");
    assertSameDisk("src.qcow2", "stream.qcow2");
    try (HeadLastFile target = new HeadLastFile(dir.resolve("last.qcow2"), Long.MAX_VALUE);
        DiskImage image = DiskImage.open(src)) {
      ImageConverter.convert(image, target, o);
    }
    assertClean("last.qcow2");
    assertSameDisk("src.qcow2", "last.qcow2");
  }

  /** A target that takes its head last, as an S3 upload does, written to a file for qemu-img. */
  private static final class HeadLastFile implements ImageStream {
    private final FileChannel ch;
    private final long capacity;
    long headLength = -1;
    long position;
    boolean finished;

    HeadLastFile(Path file, long capacity) throws IOException {
      this.ch =
          FileChannel.open(
              file,
              StandardOpenOption.CREATE,
              StandardOpenOption.WRITE,
              StandardOpenOption.TRUNCATE_EXISTING);
      this.capacity = capacity;
    }

    @Override
    public void write(ByteBuffer bytes) throws IOException {
      if (headLength < 0) {
        headLength = 0; // no head announced: front to back
      }
      while (bytes.hasRemaining()) {
        position += ch.write(bytes, headLength + position);
      }
    }

    @Override
    public long headCapacity() {
      return capacity;
    }

    @Override
    public void deferHead(long length) {
      assertEquals(-1, headLength, "the head is announced before the first write");
      headLength = length;
    }

    @Override
    public void writeHead(ByteBuffer head) throws IOException {
      assertEquals(headLength, head.remaining(), "the head has its announced length");
      long at = 0;
      while (head.hasRemaining()) {
        at += ch.write(head, at);
      }
    }

    @Override
    public void finish() {
      finished = true;
    }

    @Override
    public void close() throws IOException {
      ch.close();
    }
  }

  @ParameterizedTest(name = "head capacity {0}, compression {1}")
  @CsvSource({"1000000000, zstd", "1000000000, none", "1, zlib"})
  @Timeout(120)
  void aTargetThatTakesItsHeadLastGetsACleanImage(long capacity, String compression)
      throws IOException {
    Path src = qcow2Source("cluster_size=65536");
    ConvertOptions o = options("qcow2", compression, 2).build();
    try (HeadLastFile target = new HeadLastFile(dir.resolve("last.qcow2"), capacity);
        DiskImage image = DiskImage.open(src)) {
      ImageConverter.convert(image, target, o);
      assertTrue(target.finished);
      // A head that does not fit goes first, after a planning pass.
      assertEquals(capacity > 1, target.headLength > 0, "head length " + target.headLength);
    }
    assertClean("last.qcow2");
    assertSameDisk("src.qcow2", "last.qcow2");
  }

  @ParameterizedTest(name = "{0}, compression {1}")
  @CsvSource({"raw, none", "qcow2, none", "qcow2, zlib", "qcow2, zstd"})
  @Timeout(180)
  void theBytesDoNotDependOnTheThreadCount(String format, String compression) throws Exception {
    Path src = qcow2Source("cluster_size=65536");
    for (int threads : new int[] {1, 4}) {
      ConvertOptions o = options(format, compression, threads).build();
      toStream(src, dir.resolve("stream-" + threads), o);
      try (DiskImage image = DiskImage.open(src)) {
        ImageConverter.convert(image, dir.resolve("file-" + threads), o);
      }
    }
    assertEquals(sha256(dir.resolve("stream-1")), sha256(dir.resolve("stream-4")));
    assertEquals(sha256(dir.resolve("file-1")), sha256(dir.resolve("file-4")));
  }

  private static String sha256(Path file) throws Exception {
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    try (FileChannel ch = FileChannel.open(file)) {
      ByteBuffer b = ByteBuffer.allocate(1 << 20);
      while (ch.read(b) > 0) {
        md.update(b.flip());
        b.clear();
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }

  /** A raw disk with data, a long run of zeros and a short one, read as a stream. */
  private Path rawSource() throws IOException {
    Path raw = dir.resolve("src.raw");
    TestData.writeRaw(raw, 12L << 20, 3);
    try (FileChannel ch = FileChannel.open(raw, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.allocate(5 << 20), 2L << 20);
      ch.write(ByteBuffer.allocate(100 << 10), 9L << 20);
      // Ends in a partial cluster.
      ch.write(ByteBuffer.wrap("tail".getBytes()), ch.size());
    }
    return raw;
  }

  @ParameterizedTest(name = "{0}, compression {1}")
  @CsvSource({"raw, none", "qcow2, none", "qcow2, zlib", "qcow2, zstd"})
  @Timeout(120)
  void aRawDiskReadAsAStreamConvertsToFiles(String format, String compression) throws IOException {
    Path raw = rawSource();
    Path out = dir.resolve("out." + format);
    try (FileChannel in = FileChannel.open(raw)) {
      long size =
          ImageConverter.convert(
              (java.nio.channels.ReadableByteChannel) in,
              out,
              options(format, compression, 2).build());
      assertEquals(Files.size(raw), size);
    }
    if (format.equals("raw")) {
      assertArrayEquals(Files.readAllBytes(raw), Files.readAllBytes(out));
    } else {
      assertClean("out.qcow2");
    }
    assertSameDisk("src.raw", out.getFileName().toString());
    // The 5 MiB of zeros are a hole, or unallocated clusters.
    String map = Qemu.img(dir, "map", "--output=json", "-f", format, out.getFileName().toString());
    java.util.regex.Matcher m =
        java.util.regex.Pattern.compile("\"start\": (\\d+), \"length\": (\\d+),[^}]*\"data\": true")
            .matcher(map);
    while (m.find()) {
      long start = Long.parseLong(m.group(1));
      long end = start + Long.parseLong(m.group(2));
      assertTrue(
          end <= (2L << 20) || start >= (7L << 20), "data in the zeros at [2 MiB, 7 MiB): " + map);
    }
  }

  @ParameterizedTest(name = "compression {0}")
  @CsvSource({"zlib", "zstd"})
  @Timeout(120)
  void aRawDiskReadAsAStreamGivesTheSameImageWhateverTheThreadCount(String compression)
      throws Exception {
    Path raw = rawSource();
    for (int threads : new int[] {1, 4}) {
      try (FileChannel in = FileChannel.open(raw)) {
        ImageConverter.convert(
            (java.nio.channels.ReadableByteChannel) in,
            dir.resolve("out-" + threads),
            options("qcow2", compression, threads).build());
      }
    }
    assertClean("out-4");
    assertSameDisk("src.raw", "out-4");
    assertEquals(sha256(dir.resolve("out-1")), sha256(dir.resolve("out-4")));
  }

  @Test
  @Timeout(60)
  void aRawDiskReadAsAStreamCopiesToAStreamAsRawOnly() throws IOException {
    Path raw = rawSource();
    try (FileChannel in = FileChannel.open(raw);
        FileChannel ch =
            FileChannel.open(
                dir.resolve("copy.raw"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        ImageStream out = ImageStream.of(ch)) {
      assertEquals(
          Files.size(raw), ImageConverter.convert(in, out, ConvertOptions.builder().build()));
    }
    assertArrayEquals(Files.readAllBytes(raw), Files.readAllBytes(dir.resolve("copy.raw")));
    try (FileChannel in = FileChannel.open(raw);
        FileChannel ch =
            FileChannel.open(
                dir.resolve("no.qcow2"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        ImageStream out = ImageStream.of(ch)) {
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  ImageConverter.convert(
                      in, out, ConvertOptions.builder().targetFormat("qcow2").build()));
      assertTrue(e.getMessage().contains("cannot be planned"), e.getMessage());
    }
  }

  @Test
  @Timeout(60)
  void anEmptyDiskIsAnEmptyImage() throws IOException {
    Qemu.img(dir, "create", "-f", "qcow2", "empty.qcow2", "0");
    toStream(
        dir.resolve("empty.qcow2"), dir.resolve("out.qcow2"), options("qcow2", "zstd", 2).build());
    assertClean("out.qcow2");
    assertSameDisk("empty.qcow2", "out.qcow2");
    try (FileChannel in = FileChannel.open(Files.createFile(dir.resolve("empty.raw")))) {
      assertEquals(
          0,
          ImageConverter.convert(
              in, dir.resolve("fromstdin.qcow2"), options("qcow2", "none", 1).build()));
    }
    assertClean("fromstdin.qcow2");
  }

  @Test
  @Timeout(60)
  void streamsRefuseExistingTargetsAndBackingFiles() throws IOException {
    Path src = qcow2Source("cluster_size=65536");
    ConvertOptions backed =
        ConvertOptions.builder().targetFormat("qcow2").backing("base.qcow2", "qcow2").build();
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> toStream(src, dir.resolve("x"), backed));
    assertTrue(e.getMessage().contains("backing file"), e.getMessage());
  }

  @ParameterizedTest(name = "compression {0}, the cluster reads {1}")
  @CsvSource({
    "none, 0, the source changed",
    "zstd, 0, the source changed",
    "zstd, 7, compression is not deterministic"
  })
  @Timeout(60)
  void aSourceThatChangesBetweenThePassesFailsTheConversion(
      String compression, byte fill, String expected) throws IOException {
    Path raw = rawSource();
    // qemu (and we) count a raw disk in whole sectors.
    long size = (Files.size(raw) + 511) & ~511L;
    // Half way is the end of the first pass: then a data cluster changes on disk.
    ConvertOptions o =
        options("qcow2", compression, 2)
            .progress(
                done -> {
                  if (done == size / 2) {
                    try (FileChannel ch = FileChannel.open(raw, StandardOpenOption.WRITE)) {
                      byte[] b = new byte[65536];
                      java.util.Arrays.fill(b, fill);
                      ch.write(ByteBuffer.wrap(b), 8L << 20);
                    } catch (IOException e) {
                      throw new java.io.UncheckedIOException(e);
                    }
                  }
                })
            .build();
    IOException e;
    try (DiskImage image = DiskImage.open(raw);
        FileChannel ch =
            FileChannel.open(
                dir.resolve("x"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        ImageStream out = ImageStream.of(ch)) {
      e = assertThrows(IOException.class, () -> ImageConverter.convert(image, out, o));
    }
    assertTrue(e.getMessage().contains(expected), e.getMessage());
  }
}
