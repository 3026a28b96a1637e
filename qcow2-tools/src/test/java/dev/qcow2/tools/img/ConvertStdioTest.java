package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.QemuAssert;
import dev.qcow2.testing.TestData;
import dev.qcow2.tools.Cli;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code qcow2 convert SRC -} and {@code qcow2 convert -f raw - DST} over real pipes: the tool runs
 * in a child JVM whose standard output (and input) is a pipe to this test. What comes out equals
 * the file conversion and is clean by qemu-img check once written back to a file.
 */
class ConvertStdioTest {
  @TempDir Path dir;

  /**
   * What a child run printed on standard error, its exit code and the SHA-256 of its standard
   * output.
   */
  private record Run(int exitCode, String stderr, String sha256) {}

  /**
   * Runs {@code qcow2 ARGS} in a child JVM with at most {@code heapMiB} of heap, its standard
   * output a pipe copied to {@code stdout} (sparsely: zero blocks are skipped, so a large raw disk
   * costs no disk space), its standard input a pipe fed from {@code stdin} if not null.
   */
  private Run child(int heapMiB, Path stdin, Path stdout, String... args) throws Exception {
    List<String> command =
        new ArrayList<>(
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx" + heapMiB + "m",
                "-XX:MaxDirectMemorySize=" + heapMiB + "m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-cp",
                System.getProperty("java.class.path"),
                "dev.qcow2.tools.Main",
                "qcow2"));
    command.addAll(Arrays.asList(args));
    Process p = new ProcessBuilder(command).directory(dir.toFile()).start();
    CompletableFuture<Void> feed =
        CompletableFuture.runAsync(
            () -> {
              try (OutputStream in = p.getOutputStream()) {
                if (stdin != null) {
                  Files.copy(stdin, in);
                }
              } catch (IOException e) {
                throw new UncheckedIOException(e);
              }
            });
    CompletableFuture<String> err =
        CompletableFuture.supplyAsync(
            () -> {
              try (InputStream e = p.getErrorStream()) {
                return new String(e.readAllBytes(), StandardCharsets.UTF_8);
              } catch (IOException e) {
                throw new UncheckedIOException(e);
              }
            });
    String sha = copySparse(p.getInputStream(), stdout);
    assertTrue(p.waitFor(5, TimeUnit.MINUTES), "the child timed out: " + command);
    feed.join();
    return new Run(p.exitValue(), err.join(), sha);
  }

  private static String copySparse(InputStream in, Path file) throws Exception {
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    byte[] block = new byte[1 << 16];
    long at = 0;
    try (in;
        FileChannel out =
            FileChannel.open(
                file,
                StandardOpenOption.CREATE,
                StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
      int n;
      while ((n = in.readNBytes(block, 0, block.length)) > 0) {
        md.update(block, 0, n);
        if (!allZero(block, n)) {
          ByteBuffer b = ByteBuffer.wrap(block, 0, n);
          long pos = at;
          while (b.hasRemaining()) {
            pos += out.write(b, pos);
          }
        }
        at += n;
      }
      out.truncate(at);
      if (out.size() < at) {
        out.write(ByteBuffer.allocate(1), at - 1);
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }

  private static boolean allZero(byte[] b, int n) {
    for (int i = 0; i < n; i++) {
      if (b[i] != 0) {
        return false;
      }
    }
    return true;
  }

  /**
   * A qcow2 source made at test time: varied data, zeros written as such, a discarded hole, data
   * that reads zeros.
   */
  private Path source() throws IOException {
    TestData.writeRaw(dir.resolve("data.raw"), 16L << 20, 11);
    Qemu.img(dir, "convert", "-O", "qcow2", "data.raw", "src.qcow2");
    Qemu.io(
        dir,
        "src.qcow2",
        "write -z 1M 2M",
        "discard 5M 3M",
        "write -P 0 10M 1M",
        "write -P 0x5a 12M 64k");
    return dir.resolve("src.qcow2");
  }

  private void assertClean(String image) {
    QemuAssert.assertClean(dir, image);
  }

  private void assertSameDisk(String a, String b) {
    QemuAssert.assertSameDisk(dir, a, b);
  }

  private static String[] convertArgs(String options, String source, String target) {
    List<String> args = new ArrayList<>(List.of("convert"));
    if (!options.isBlank()) {
      args.addAll(Arrays.asList(options.trim().split(" +")));
    }
    args.add(source);
    args.add(target);
    return args.toArray(String[]::new);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "-O raw",
    "-O qcow2",
    "-O qcow2 -c -o compression_type=zlib",
    "-O qcow2 -c -o compression_type=zstd"
  })
  @Timeout(300)
  void standardOutputEqualsTheFileConversion(String options) throws Exception {
    source();
    Run run =
        child(64, null, dir.resolve("piped.out"), convertArgs(options + " -m 2", "src.qcow2", "-"));
    assertEquals(0, run.exitCode(), run.stderr());
    assertEquals("", run.stderr());
    List<String> argv = new ArrayList<>(List.of("qcow2"));
    argv.addAll(
        List.of(
            convertArgs(
                options, dir.resolve("src.qcow2").toString(), dir.resolve("file.out").toString())));
    Cli.Result file = Cli.run(argv.toArray(String[]::new));
    assertEquals(0, file.exitCode(), file.stderr());
    if (options.contains("qcow2")) {
      assertClean("piped.out");
    }
    assertSameDisk("src.qcow2", "piped.out");
    assertSameDisk("file.out", "piped.out");
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "-O raw",
    "-O qcow2",
    "-O qcow2 -c -o compression_type=zlib",
    "-O qcow2 -c -o compression_type=zstd"
  })
  @Timeout(300)
  void standardInputEqualsTheFileConversion(String options) throws Exception {
    source();
    Qemu.img(dir, "convert", "-O", "raw", "src.qcow2", "src.raw");
    String format = options.contains("qcow2") ? "qcow2" : "raw";
    Run run =
        child(
            64,
            dir.resolve("src.raw"),
            dir.resolve("nothing"),
            convertArgs("-f raw " + options, "-", "piped." + format));
    assertEquals(0, run.exitCode(), run.stderr());
    assertEquals(0, Files.size(dir.resolve("nothing")), "nothing on standard output");
    if (format.equals("qcow2")) {
      assertClean("piped.qcow2");
    }
    assertSameDisk("src.raw", "piped." + format);
    assertSameDisk("src.qcow2", "piped." + format);
    // The discarded 3 MiB read zeros and stay a hole, or unallocated clusters.
    assertHole(dir, format, "piped." + format, 5L << 20, 8L << 20);
  }

  private static final java.util.regex.Pattern EXTENT =
      java.util.regex.Pattern.compile(
          "\"start\": (\\d+), \"length\": (\\d+),[^}]*\"data\": (true|false)");

  /**
   * qemu-img map says that guest bytes [from, to) of {@code image} hold no data (a hole,
   * unallocated).
   */
  static void assertHole(Path dir, String format, String image, long from, long to) {
    String map = Qemu.img(dir, "map", "--output=json", "-f", format, image);
    java.util.regex.Matcher m = EXTENT.matcher(map);
    while (m.find()) {
      long start = Long.parseLong(m.group(1));
      long end = start + Long.parseLong(m.group(2));
      if (start < to && end > from && m.group(3).equals("true")) {
        throw new AssertionError("data in [" + from + ", " + to + "): " + map);
      }
    }
    assertTrue(map.contains("\"data\": false"), map);
  }

  @Test
  @Timeout(120)
  void standardInputToStandardOutputCopiesRaw() throws Exception {
    source();
    Qemu.img(dir, "convert", "-O", "raw", "src.qcow2", "src.raw");
    Run run =
        child(
            64,
            dir.resolve("src.raw"),
            dir.resolve("copy.raw"),
            "convert",
            "-f",
            "raw",
            "-O",
            "raw",
            "-",
            "-");
    assertEquals(0, run.exitCode(), run.stderr());
    assertArrayEquals(
        Files.readAllBytes(dir.resolve("src.raw")), Files.readAllBytes(dir.resolve("copy.raw")));
  }

  @Test
  @Timeout(300)
  void aSparseGibibyteGoesThroughAPipeInBoundedMemory() throws Exception {
    Qemu.img(dir, "create", "-f", "qcow2", "big.qcow2", "1G");
    List<String> writes = new ArrayList<>();
    for (int i = 0; i < 24; i++) {
      writes.add("write -P " + (i + 1) + " " + (i * 43L << 20) + " " + (64 + i * 8) + "k");
    }
    Qemu.io(dir, "big.qcow2", writes.toArray(String[]::new));
    // 32 MiB of heap and of direct memory for a 1 GiB disk.
    Run zstd =
        child(
            32,
            null,
            dir.resolve("big-out.qcow2"),
            "convert",
            "-m",
            "2",
            "-O",
            "qcow2",
            "-c",
            "-o",
            "compression_type=zstd",
            "big.qcow2",
            "-");
    assertEquals(0, zstd.exitCode(), zstd.stderr());
    assertClean("big-out.qcow2");
    assertSameDisk("big.qcow2", "big-out.qcow2");
    assertTrue(Files.size(dir.resolve("big-out.qcow2")) < (8L << 20), "only the data is stored");
    Run raw =
        child(
            32,
            null,
            dir.resolve("big-out.raw"),
            "convert",
            "-m",
            "2",
            "-O",
            "raw",
            "big.qcow2",
            "-");
    assertEquals(0, raw.exitCode(), raw.stderr());
    assertEquals(1L << 30, Files.size(dir.resolve("big-out.raw")));
    assertSameDisk("big.qcow2", "big-out.raw");
  }

  /**
   * A raw disk just past the size a qcow2 target starts with, so that it grows once and is cut
   * back.
   */
  @Test
  @Timeout(300)
  void aSparseGibibyteComesThroughStandardInputInBoundedMemory() throws Exception {
    Path raw = dir.resolve("big.raw");
    try (FileChannel ch =
        FileChannel.open(raw, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      for (int i = 0; i < 16; i++) {
        ch.write(
            ByteBuffer.wrap(("data " + i).repeat(1000).getBytes(StandardCharsets.UTF_8)),
            i * (67L << 20));
      }
      // Ends 64 KiB past 1 GiB.
      ch.write(
          ByteBuffer.wrap("end".getBytes(StandardCharsets.UTF_8)), (1L << 30) + (64 << 10) - 3);
    }
    Run run =
        child(
            32,
            raw,
            dir.resolve("nothing"),
            "convert",
            "-f",
            "raw",
            "-O",
            "qcow2",
            "-c",
            "-",
            "big-in.qcow2");
    assertEquals(0, run.exitCode(), run.stderr());
    assertClean("big-in.qcow2");
    assertSameDisk("big.raw", "big-in.qcow2");
    assertTrue(
        Qemu.img(dir, "info", "big-in.qcow2").contains("virtual size: 1 GiB (1073807360 bytes)"),
        Qemu.img(dir, "info", "big-in.qcow2"));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"-O raw", "-O qcow2", "-O qcow2 -c -o compression_type=zstd"})
  @Timeout(300)
  void theBytesOnStandardOutputDoNotDependOnTheThreadCount(String options) throws Exception {
    source();
    Run one = child(64, null, dir.resolve("one"), convertArgs(options + " -m 1", "src.qcow2", "-"));
    Run four =
        child(64, null, dir.resolve("four"), convertArgs(options + " -m 4", "src.qcow2", "-"));
    assertEquals(0, one.exitCode(), one.stderr());
    assertEquals(0, four.exitCode(), four.stderr());
    assertEquals(one.sha256(), four.sha256());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "convert -O qcow2 -n src.qcow2 - | -n cannot be used when writing to standard output",
        "convert -O qcow2 -B base.qcow2 src.qcow2 - | -B cannot be used when writing to standard output",
        "convert -O qcow2 -o backing_file=base.qcow2 src.qcow2 - | a backing file cannot be used when writing to standard output",
        "convert -O qcow2 -o data_file=d.raw src.qcow2 - | an external data file cannot be used when writing to standard output",
        "convert -O qcow2 -o preallocation=metadata src.qcow2 - | preallocation cannot be used when writing to standard output",
        "convert -O raw - out.raw | reading standard input needs -f raw (no format can be detected on a stream)",
        "convert -f raw -O qcow2 -n - out.qcow2 | -n cannot be used when reading standard input",
        "convert -f raw -O qcow2 -B base.qcow2 - out.qcow2 | -B cannot be used when reading standard input",
        "convert -f raw -O qcow2 -o preallocation=full - out.qcow2 | preallocation cannot be used when reading standard input",
        "convert -f raw -O qcow2 -o backing_file=base.qcow2 - out.qcow2 | a backing file cannot be used when reading standard input",
        "convert -f raw -O qcow2 -l snap - out.qcow2 | -l cannot be used when reading standard input",
        "convert -f raw -O qcow2 - - | a qcow2 image cannot be written to standard output from standard input: "
            + "its layout cannot be planned from a source read once"
      })
  @Timeout(60)
  void whatCannotWorkOnAStreamIsRefusedInOneLine(String args, String message) throws Exception {
    source();
    Qemu.img(dir, "create", "-f", "qcow2", "base.qcow2", "16M");
    List<String> argv = new ArrayList<>(List.of("qcow2"));
    for (String a : args.trim().split(" +")) {
      argv.add(
          !a.contains("=") && (a.endsWith(".qcow2") || a.endsWith(".raw"))
              ? dir.resolve(a).toString()
              : a);
    }
    Cli.Result r = Cli.run(argv.toArray(String[]::new));
    assertEquals(1, r.exitCode(), r.stderr());
    assertEquals("qcow2: " + message + "\n", r.stderr());
    assertEquals("", r.stdout());
  }
}
