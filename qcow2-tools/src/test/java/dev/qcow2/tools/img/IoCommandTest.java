package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code qcow2 io} against qemu-io 7.2: what one writes the other reads back, and both print the
 * same lines (timings aside, whose shape is checked).
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class IoCommandTest {
  private static final Pattern TIMING =
      Pattern.compile(
          "[0-9.]+ (bytes|KiB|MiB|GiB), 1 ops; (\\d\\d\\.\\d\\d sec|\\d+:\\d\\d:\\d\\d\\.\\d\\d) "
              + "\\([0-9.]+ (bytes|KiB|MiB|GiB|TiB|PiB|EiB)/sec and [0-9.]+ ops/sec\\)");

  @TempDir Path dir;

  private static Cli.Result io(String image, String... commands) {
    List<String> args = new ArrayList<>(List.of("qcow2", "io"));
    for (String c : commands) {
      args.add("-c");
      args.add(c);
    }
    args.add(image);
    return Cli.run(args.toArray(String[]::new));
  }

  /** qemu-io's stdout for the same commands on {@code image}, whatever its exit code. */
  private String qemuIo(String image, String... commands) {
    List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "qcow2", "--discard=unmap"));
    for (String c : commands) {
      cmd.add("-c");
      cmd.add(c);
    }
    cmd.add(image);
    return Qemu.exec(dir, cmd).stdout();
  }

  /** The output with timing lines checked for their shape and then dropped. */
  private static String withoutTimings(String out) {
    return out.lines()
        .filter(
            l -> {
              if (l.contains(" ops; ")) {
                assertTrue(TIMING.matcher(l).matches(), "timing line shape: " + l);
                return false;
              }
              return true;
            })
        .map(l -> l + "\n")
        .collect(Collectors.joining());
  }

  private String copy(String image, String name) throws Exception {
    Path to = dir.resolve(name);
    Files.copy(Path.of(image), to, StandardCopyOption.REPLACE_EXISTING);
    return to.toString();
  }

  /** Ranges at multiples of 2 MiB where a cluster of every size must be whole (discard, -c). */
  private static final String[] WRITES = {
    "write -P 0xab 0 64k",
    "write -P 0x11 100k 3k",
    "write 1M 8k",
    "write -z 2M 256k",
    "write -P 7 4M 2M",
    "discard 4M 2M",
    "write -c -P 0x42 6M 2M",
    "flush"
  };

  @ParameterizedTest(name = "compat {0}, cluster size {1}")
  @CsvSource({"0.10, 512", "0.10, 65536", "1.1, 512", "1.1, 4096", "1.1, 65536", "1.1, 2097152"})
  void should_write_what_qemu_io_reads_back(String compat, int clusterSize) throws Exception {
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "compat=" + compat + ",cluster_size=" + clusterSize,
        "ours.qcow2",
        "8M");
    String ours = dir.resolve("ours.qcow2").toString();
    String theirs = copy(ours, "theirs.qcow2");
    Cli.Result r = io(ours, WRITES);
    assertEquals(0, r.exitCode(), r.stderr());
    assertEquals("", r.stderr());
    assertTrue(
        r.stdout().startsWith("wrote 65536/65536 bytes at offset 0\n64 KiB, 1 ops; "), r.stdout());
    assertEquals(withoutTimings(qemuIo(theirs, WRITES)), withoutTimings(r.stdout()));
    Qemu.io(
        dir,
        ours,
        "read -P 0xab 0 64k",
        "read -P 0 64k 36k",
        "read -P 0x11 100k 3k",
        "read -P 0 103k 921k",
        "read -P 0xcd 1M 8k",
        "read -P 0 2M 256k",
        "read -P 0 4M 2M",
        "read -P 0x42 6M 2M");
    assertEquals(0, Qemu.exec(dir, List.of("qemu-img", "check", ours)).exitCode());
    assertEquals("Images are identical.\n", Qemu.img(dir, "compare", ours, theirs));
  }

  @Test
  void should_verify_what_qemu_io_wrote_and_fail_on_other_bytes() throws Exception {
    String image = Recipes.mixed(dir, "1.1", 65536);
    String[] good = {
      "read -P 0xab 0 64k",
      "read -P 0xcd 100k 3k",
      "read -P 0 1M 256k",
      "read -P 0x11 2176k 384k",
      "read -P 0 2560k 64k",
      "read -P 0x22 7M 1M",
      "read 0 8M"
    };
    Cli.Result ok = io(image, good);
    assertEquals(0, ok.exitCode(), ok.stderr());
    assertEquals(withoutTimings(qemuIo(image, good)), withoutTimings(ok.stdout()));
    assertTrue(ok.stdout().startsWith("read 65536/65536 bytes at offset 0\n"), ok.stdout());

    Cli.Result bad = io(image, "read -P 0xcd 0 64k", "read -P 0xab 0 4k");
    assertEquals(1, bad.exitCode());
    assertTrue(
        bad.stdout()
            .startsWith(
                "Pattern verification failed at offset 0, 65536 bytes\n"
                    + "read 65536/65536 bytes at offset 0\n"),
        bad.stdout());
    assertEquals(
        withoutTimings(qemuIo(image, "read -P 0xcd 0 64k", "read -P 0xab 0 4k")),
        withoutTimings(bad.stdout()));
    assertEquals(1, bad.stderr().lines().count(), bad.stderr());
  }

  @Test
  void should_dump_bytes_as_qemu_io_does() throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "dump.qcow2", "1M");
    String image = dir.resolve("dump.qcow2").toString();
    Qemu.io(
        dir,
        image,
        "write -P 0x41 0 20",
        "write -P 0x7a 20 5",
        "write -P 0x2e 25 3",
        "write -P 0x39 65530 6",
        "write -P 0xff 4096 16");
    String[] reads = {
      "read -v 0 40", "read -v 65530 20", "read -v -P 0xff 4096 16", "read -v 4090 7"
    };
    Cli.Result r = io(image, reads);
    assertEquals(0, r.exitCode(), r.stderr());
    assertTrue(
        r.stdout()
            .startsWith(
                "00000000:  41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41  AAAAAAAAAAAAAAAA\n"),
        r.stdout());
    assertEquals(withoutTimings(qemuIo(image, reads)), withoutTimings(r.stdout()));
  }

  @Test
  void should_round_trip_an_image_it_created() throws Exception {
    String image = dir.resolve("new.qcow2").toString();
    assertEquals(
        0,
        Cli.run(
                "qcow2",
                "create",
                "-q",
                "-f",
                "qcow2",
                "-o",
                "compression_type=zstd,extended_l2=on",
                image,
                "4M")
            .exitCode());
    Cli.Result w =
        io(
            image,
            "write -P 0x61 0 96k",
            "write -c -P 0x62 1M 64k",
            "read -P 0x61 0 96k",
            "read -P 0x62 1M 64k");
    assertEquals(0, w.exitCode(), w.stderr());
    Qemu.io(dir, image, "read -P 0x61 0 96k", "read -P 0x62 1M 64k", "read -P 0 96k 928k");
    assertTrue(Qemu.img(dir, "check", image).contains("No errors were found on the image."));
  }

  @Test
  void should_open_read_only_for_reads_so_that_a_dirty_image_stays_as_it_is() throws Exception {
    String image = Recipes.dirty(dir);
    byte[] before = Files.readAllBytes(Path.of(image));
    Cli.Result r = io(image, "read -P 7 0 64k", "read -P 0 64k 64k");
    assertEquals(0, r.exitCode(), r.stderr());
    assertEquals("", r.stderr());
    // A writable open would have rebuilt the refcounts and cleared the dirty bit.
    assertArrayEquals(before, Files.readAllBytes(Path.of(image)), "reads leave the file alone");
    assertTrue(Qemu.img(dir, "info", "--output=json", image).contains("\"dirty-flag\": true"));
  }

  @Test
  void should_read_a_corrupt_image_and_refuse_to_write_it_in_one_line() throws Exception {
    String image = Recipes.corrupt(dir);
    byte[] before = Files.readAllBytes(Path.of(image));
    Cli.Result r = io(image, "read -P 7 0 64k");
    assertEquals(0, r.exitCode(), r.stderr());
    assertTrue(r.stdout().startsWith("read 65536/65536 bytes at offset 0\n"), r.stdout());

    Cli.Result w = io(image, "write -P 1 0 4k");
    assertEquals(1, w.exitCode());
    assertTrue(w.stderr().startsWith("qcow2: can't open device " + image + ": "), w.stderr());
    assertEquals(1, w.stderr().lines().count(), w.stderr());
    assertEquals("", w.stdout());
    assertArrayEquals(before, Files.readAllBytes(Path.of(image)));

    // -r keeps even a writing command read-only.
    Cli.Result ro = Cli.run("qcow2", "io", "-r", "-c", "write 0 4k", image);
    assertEquals(1, ro.exitCode());
    assertEquals("qcow2: write failed: " + image + ": image is read-only\n", ro.stderr());
    assertArrayEquals(before, Files.readAllBytes(Path.of(image)));
  }

  @Test
  void should_read_raw_images_and_refuse_to_write_them() throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "raw", "d.raw", "1M");
    Qemu.run(dir, "qemu-io", "-f", "raw", "-c", "write -P 0x33 4k 4k", "d.raw");
    String raw = dir.resolve("d.raw").toString();
    Cli.Result r = Cli.run("qcow2", "io", "-f", "raw", "-c", "read -P 0x33 4k 4k", raw);
    assertEquals(0, r.exitCode(), r.stderr());
    assertTrue(r.stdout().startsWith("read 4096/4096 bytes at offset 4096\n"), r.stdout());
    Cli.Result w = Cli.run("qcow2", "io", "-f", "raw", "-c", "write 0 4k", raw);
    assertEquals(1, w.exitCode());
    assertEquals("qcow2: write failed: writing raw images is not supported\n", w.stderr());
  }

  @Test
  void should_print_one_line_per_error_and_exit_1() throws Exception {
    Path missing = dir.resolve("missing.qcow2");
    Cli.Result m = io(missing.toString(), "read 0 4k");
    assertEquals(1, m.exitCode());
    assertEquals(
        "qcow2: can't open device "
            + missing
            + ": Could not open '"
            + missing
            + "': No such file or directory\n",
        m.stderr());
    assertEquals("", m.stdout());

    Qemu.img(dir, "create", "-q", "-f", "qcow2", "e.qcow2", "1M");
    String image = dir.resolve("e.qcow2").toString();
    String[][] cases = {
      {
        "read 0 1x",
        "qcow2: Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- 1x\n"
      },
      {"read 9E 1", "qcow2: Parsing error: argument too large -- 9E\n"},
      {"write -P 300 0 1", "qcow2: 300 is not a valid pattern byte\n"},
      {
        "write -z -P 1 0 1", "qcow2: Only one of -z, -P, and -s can be specified at the same time\n"
      },
      {"bogus 0 1", "qcow2: command \"bogus\" not found\n"},
      {"read 0", "qcow2: bad argument count 1 to read, expected at least 2 arguments\n"},
      {
        "write 1M 512",
        "qcow2: write failed: Input/output error (offset 1048576 + length 512 is past"
            + " the end of the disk, 1048576 bytes)\n"
      },
      {
        "read 1020k 8k",
        "qcow2: read failed: Input/output error (offset 1044480 + length 8192 is past"
            + " the end of the disk, 1048576 bytes)\n"
      },
      {"read 0 3G", "qcow2: length cannot exceed 2147483136, given 3G\n"}
    };
    for (String[] c : cases) {
      Cli.Result r = io(image, c[0]);
      assertEquals(1, r.exitCode(), c[0]);
      assertEquals(c[1], r.stderr(), c[0]);
      assertEquals("", r.stdout(), c[0]);
    }
    // A failing command does not stop the next ones, as in qemu-io.
    Cli.Result on = io(image, "write 1M 512", "write -P 5 0 512");
    assertEquals(1, on.exitCode());
    assertTrue(on.stdout().startsWith("wrote 512/512 bytes at offset 0\n"), on.stdout());
    Qemu.io(dir, image, "read -P 5 0 512");

    Cli.Result none = Cli.run("qcow2", "io", image);
    assertEquals(1, none.exitCode());
    assertEquals("qcow2: no command given: use -c CMD\n", none.stderr());
  }
}
