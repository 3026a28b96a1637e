package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code qcow2 create} against qemu-img 7.2's create run with the same arguments: the same
 * Formatting line, the same errors, and images that qemu-img check finds clean and qemu-img info
 * describes as it describes qemu's own.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class CreateCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dir;

  /**
   * Runs qemu-img create, moves its image aside, runs ours with the same arguments ({@code FILE}
   * and {@code BASE} stand for absolute paths), and compares everything; returns our result.
   */
  private Cli.Result assertCreatesLikeQemu(String file, String... args) throws Exception {
    Path image = dir.resolve(file);
    List<String> resolved = new ArrayList<>();
    for (String a : args) {
      resolved.add(a.equals("FILE") ? image.toString() : a);
    }
    List<String> qemuCmd = new ArrayList<>(List.of("qemu-img", "create"));
    qemuCmd.addAll(resolved);
    Qemu.Result expected = Qemu.exec(dir, qemuCmd);
    Path qemuCopy = image.resolveSibling("qemu-" + image.getFileName());
    if (Files.exists(image)) {
      Files.move(image, qemuCopy, StandardCopyOption.REPLACE_EXISTING);
    }
    List<String> ours = new ArrayList<>(List.of("qcow2", "create"));
    ours.addAll(resolved);
    Cli.Result r = Cli.run(ours.toArray(String[]::new));
    String what = String.join(" ", resolved);
    assertEquals(
        expected.exitCode(), r.exitCode(), "exit code of " + what + "; stderr: " + r.stderr());
    assertEquals(expected.stdout(), r.stdout(), "stdout of " + what);
    assertEquals(qemuErrors(expected.stderr()), r.stderr(), "stderr of " + what);
    // qemu-img check has nothing to say about raw files, and needs the backing file.
    if (r.exitCode() == 0 && file.endsWith(".qcow2") && !resolved.contains("-u")) {
      Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", image.toString()));
      assertEquals(0, check.exitCode(), "qemu-img check of our " + what + ":\n" + check.stdout());
    }
    if (r.exitCode() == 0) {
      assertEquals(info(qemuCopy), info(image), "qemu-img info of " + what);
    }
    return r;
  }

  /** qemu-img's stderr as ours: our prefix, and a newline after a final hint line. */
  private static String qemuErrors(String stderr) {
    String s = stderr.replaceAll("(?m)^qemu-img: ", "qcow2: ");
    return s.isEmpty() || s.endsWith("\n") ? s : s + "\n";
  }

  /** qemu-img info's JSON without the fields that name or measure the file itself. */
  private ObjectNode info(Path image) throws Exception {
    ObjectNode node =
        (ObjectNode) JSON.readTree(Qemu.img(dir, "info", "--output=json", "-U", image.toString()));
    node.remove("filename");
    node.remove("actual-size");
    return node;
  }

  private void assertSameMap(String file) {
    Path ours = dir.resolve(file);
    Path qemu = ours.resolveSibling("qemu-" + ours.getFileName());
    assertEquals(
        Qemu.img(dir, "map", "--output=json", qemu.toString()),
        Qemu.img(dir, "map", "--output=json", ours.toString()),
        "layout of " + file);
  }

  @ParameterizedTest(name = "-o {0}")
  @ValueSource(
      strings = {
        "compat=0.10",
        "compat=v2",
        "compat=1.1",
        "compat=v3",
        "compat=0.10,cluster_size=512",
        "compat=0.10,cluster_size=4k",
        "compat=0.10,cluster_size=2M",
        "cluster_size=512",
        "cluster_size=4096",
        "cluster_size=64k",
        "cluster_size=2M",
        "refcount_bits=1",
        "refcount_bits=2",
        "refcount_bits=4",
        "refcount_bits=8",
        "refcount_bits=16",
        "refcount_bits=32",
        "refcount_bits=64",
        "refcount_bits=1,cluster_size=512",
        "refcount_bits=64,cluster_size=512",
        "lazy_refcounts=on",
        "lazy_refcounts=off",
        "lazy_refcounts=yes",
        "extended_l2=on",
        "extended_l2=on,cluster_size=16k",
        "extended_l2=on,cluster_size=2M",
        "extended_l2=off",
        "compression_type=zstd",
        "compression_type=zlib",
        "compat=v3,cluster_size=4k,refcount_bits=1,lazy_refcounts=on,compression_type=zstd",
        "compat=1.1,extended_l2=on,lazy_refcounts=on,refcount_bits=8,compression_type=zstd",
        "preallocation=off"
      })
  void should_create_what_qemu_img_creates(String options) throws Exception {
    Cli.Result r = assertCreatesLikeQemu("t.qcow2", "-f", "qcow2", "-o", options, "FILE", "64M");
    assertTrue(
        r.stdout().startsWith("Formatting '" + dir.resolve("t.qcow2") + "', fmt=qcow2 "),
        r.stdout());
    assertSameMap("t.qcow2");
    Qemu.io(dir, dir.resolve("t.qcow2").toString(), "write -P 0x5a 1M 64k", "read -P 0x5a 1M 64k");
  }

  @ParameterizedTest(name = "-o {0}")
  @ValueSource(
      strings = {
        "preallocation=metadata",
        "preallocation=falloc",
        "preallocation=full",
        "preallocation=metadata,cluster_size=512",
        "preallocation=full,cluster_size=4k,refcount_bits=1",
        "preallocation=metadata,compat=0.10"
      })
  void should_preallocate_as_qemu_img_does(String options) throws Exception {
    assertCreatesLikeQemu("p.qcow2", "-f", "qcow2", "-o", options, "FILE", "3M");
    Path ours = dir.resolve("p.qcow2");
    // Every cluster is allocated and reads as zeros, as in qemu's image.
    assertEquals(
        "Images are identical.\n",
        Qemu.img(
            dir,
            "compare",
            "-f",
            "qcow2",
            "-F",
            "qcow2",
            ours.toString(),
            dir.resolve("qemu-p.qcow2").toString()));
    assertTrue(Qemu.img(dir, "map", "--output=json", ours.toString()).contains("\"data\": true"));
  }

  @ParameterizedTest(name = "size {0}")
  @ValueSource(strings = {"0", "512", "1000", "1.3k", "1.5G", "10b", "0x1000", " 1k", "1T", "1P"})
  void should_read_sizes_and_round_them_as_qemu_img_does(String size) throws Exception {
    assertCreatesLikeQemu("s.qcow2", "-f", "qcow2", "FILE", size);
  }

  @ParameterizedTest(name = "-F {0}")
  @ValueSource(strings = {"qcow2", "raw"})
  void should_take_a_backing_file_relative_to_the_new_image(String backingFormat) throws Exception {
    Files.createDirectories(dir.resolve("sub"));
    Qemu.img(dir, "create", "-q", "-f", backingFormat, "sub/base." + backingFormat, "5M");
    Cli.Result r =
        assertCreatesLikeQemu(
            "sub/top.qcow2",
            "-f",
            "qcow2",
            "-b",
            "base." + backingFormat,
            "-F",
            backingFormat,
            "FILE");
    assertTrue(
        r.stdout()
            .contains(
                " size=5242880 backing_file=base."
                    + backingFormat
                    + " backing_fmt="
                    + backingFormat
                    + " "),
        r.stdout());
    String top = dir.resolve("sub/top.qcow2").toString();
    String json = Qemu.img(dir, "info", "--output=json", top);
    assertTrue(json.contains("\"backing-filename\": \"base." + backingFormat + "\""), json);
    assertSameMap("sub/top.qcow2");
    Qemu.io(dir, top, "write -P 9 0 4k", "read -P 9 0 4k", "read -P 0 4k 4k");
  }

  @Test
  void should_create_v2_overlays_and_overlays_with_a_size_and_backing_options() throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "base.qcow2", "8M");
    assertCreatesLikeQemu(
        "v2.qcow2",
        "-f",
        "qcow2",
        "-o",
        "compat=0.10",
        "-b",
        "base.qcow2",
        "-F",
        "qcow2",
        "FILE",
        "16M");
    assertCreatesLikeQemu(
        "opts.qcow2",
        "-f",
        "qcow2",
        "-o",
        "backing_file=base.qcow2,backing_fmt=qcow2",
        "-o",
        "cluster_size=4k",
        "FILE");
    assertCreatesLikeQemu(
        "el2.qcow2",
        "-f",
        "qcow2",
        "-o",
        "extended_l2=on,preallocation=metadata",
        "-b",
        "base.qcow2",
        "-F",
        "qcow2",
        "FILE");
  }

  @Test
  void should_not_open_the_backing_file_with_u() throws Exception {
    Cli.Result r =
        assertCreatesLikeQemu(
            "orphan.qcow2", "-f", "qcow2", "-u", "-b", "gone.qcow2", "-F", "qcow2", "FILE", "1M");
    assertTrue(r.stdout().contains("backing_file=gone.qcow2 backing_fmt=qcow2"), r.stdout());
  }

  @Test
  void should_print_nothing_with_q() throws Exception {
    Cli.Result r = assertCreatesLikeQemu("quiet.qcow2", "-q", "-f", "qcow2", "FILE", "1M");
    assertEquals("", r.stdout());
  }

  @ParameterizedTest(name = "[{index}] -f raw {0}")
  @ValueSource(
      strings = {
        "",
        "-o preallocation=off",
        "-o preallocation=full",
        "-o size=3M",
        "-o preallocation=falloc"
      })
  void should_create_raw_files(String options) throws Exception {
    List<String> args = new ArrayList<>(List.of("-f", "raw"));
    if (!options.isEmpty()) {
      args.addAll(List.of(options.split(" ")));
    }
    args.add("FILE");
    if (!options.contains("size=")) {
      args.add("1000");
    }
    assertCreatesLikeQemu("d.raw", args.toArray(String[]::new));
    assertEquals(Files.size(dir.resolve("qemu-d.raw")), Files.size(dir.resolve("d.raw")));
    assertEquals(-1, Files.mismatch(dir.resolve("qemu-d.raw"), dir.resolve("d.raw")));
  }

  @Test
  void should_create_raw_when_no_format_is_given() throws Exception {
    Cli.Result r = assertCreatesLikeQemu("plain.img", "FILE", "4M");
    assertEquals(
        "Formatting '" + dir.resolve("plain.img") + "', fmt=raw size=4194304\n", r.stdout());
    assertEquals(4L << 20, Files.size(dir.resolve("plain.img")));
  }

  /** Each fails in qemu-img with the same lines, some after the Formatting line. */
  @ParameterizedTest(name = "{0}")
  @ValueSource(
      strings = {
        "-o cluster_size=3000",
        "-o cluster_size=256",
        "-o cluster_size=4M",
        "-o refcount_bits=3",
        "-o refcount_bits=128",
        "-o refcount_bits=0",
        "-o refcount_bits=abc",
        "-o compat=0.10,refcount_bits=8",
        "-o compat=0.10,lazy_refcounts=on",
        "-o compat=0.10,extended_l2=on",
        "-o compat=0.10,compression_type=zstd",
        "-o extended_l2=on,cluster_size=4k",
        "-o compat=0.9",
        "-o compat=0.10,extended_l2=on,cluster_size=512",
        "-o compression_type=lz4",
        "-o preallocation=foo",
        "-o bogus=1",
        "-o lazy_refcounts=maybe",
        "-o cluster_size=abc",
        "-o backing_fmt=qcow2",
        "-o size=2M",
        "-o preallocation=metadata,backing_file=b.raw,backing_fmt=raw",
        "-o compat=0.10,data_file=d.data",
        "-o compat=0.10,data_file=d.data,compression_type=zstd",
        "-o data_file=d.data,data_file_raw=on,backing_file=b.raw,backing_fmt=raw",
        "-o compat=0.10,lazy_refcounts=on,data_file_raw=on",
        "-o data_file_raw=on,refcount_bits=3",
        "-o data_file_raw=on,backing_fmt=raw",
        "-o data_file_raw=on,compat=0.10,compression_type=zstd"
      })
  void should_fail_as_qemu_img_does(String options) throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "raw", "b.raw", "1M");
    List<String> args = new ArrayList<>(List.of("-f", "qcow2"));
    args.addAll(List.of(options.split(" ")));
    args.addAll(List.of("FILE", "1M"));
    Cli.Result r = assertCreatesLikeQemu("bad.qcow2", args.toArray(String[]::new));
    assertEquals(1, r.exitCode());
    assertFalse(Files.exists(dir.resolve("bad.qcow2")), "nothing is created on a refused option");
  }

  @Test
  void should_fail_on_sizes_and_arguments_as_qemu_img_does() throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "base.qcow2", "1M");
    assertCreatesLikeQemu("e.qcow2", "-f", "qcow2", "FILE", "1x");
    assertCreatesLikeQemu("e.qcow2", "-f", "qcow2", "FILE", "9E");
    assertCreatesLikeQemu("e.qcow2", "-f", "qcow2", "FILE", "1.5");
    assertCreatesLikeQemu("e.qcow2", "-f", "qcow2", "FILE");
    assertCreatesLikeQemu("e.qcow2", "-f", "qcow2", "-o", "cluster_size=512", "FILE", "129G");
    assertCreatesLikeQemu("e.qcow2", "-f", "qcow2", "-o", "cluster_size=512", "FILE", "128G");
    assertCreatesLikeQemu("e.qcow2", "-f", "qcow2", "-b", "base.qcow2", "FILE");
    assertCreatesLikeQemu("e.qcow2", "-f", "qcow2", "-u", "-b", "base.qcow2", "FILE", "1M");
    assertCreatesLikeQemu("e.qcow2", "-f", "qcow2", "-b", "missing.qcow2", "-F", "qcow2", "FILE");
    assertCreatesLikeQemu(
        "e.qcow2", "-f", "qcow2", "-u", "-b", "missing.qcow2", "-F", "qcow2", "FILE");
    assertCreatesLikeQemu("e.qcow2", "-f", "qcow2", "-b", "", "-F", "qcow2", "FILE", "1M");
    assertCreatesLikeQemu("no/such/dir/e.qcow2", "-f", "qcow2", "FILE", "1M");
    String self = dir.resolve("self.qcow2").toString();
    assertCreatesLikeQemu("self.qcow2", "-f", "qcow2", "-b", self, "-F", "qcow2", "FILE", "1M");
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "data_file=d.data",
        "data_file=d.data,data_file_raw=on",
        "data_file=d.data,cluster_size=4096"
      })
  void should_create_images_with_a_data_file_as_qemu_img_does(String options) throws Exception {
    Cli.Result r =
        Cli.run(
            "qcow2",
            "create",
            "-f",
            "qcow2",
            "-o",
            options,
            dir.resolve("d.qcow2").toString(),
            "4M");
    assertEquals(0, r.exitCode(), r.stderr());
    Qemu.Result q =
        Qemu.exec(
            dir,
            List.of(
                "qemu-img",
                "create",
                "-f",
                "qcow2",
                "-o",
                options.replace("d.data", "q.data"),
                dir.resolve("q.qcow2").toString(),
                "4M"));
    assertEquals(q.stdout().replace("q.qcow2", "d.qcow2").replace("q.data", "d.data"), r.stdout());
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "d.qcow2"));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    Qemu.io(dir, "d.qcow2", "write -P 3 4096 8192", "read -P 3 4096 8192");
    assertEquals(Files.size(dir.resolve("q.data")), Files.size(dir.resolve("d.data")));
  }

  @Test
  void should_refuse_what_we_do_not_write_in_one_line() {
    String file = dir.resolve("df.qcow2").toString();
    Cli.Result e =
        Cli.run("qcow2", "create", "-q", "-f", "qcow2", "-o", "encrypt.format=aes", file, "1M");
    assertEquals(
        "qcow2: "
            + file
            + ": encrypt.format=aes (the legacy qcow2 AES method) is not supported for new images;"
            + " use encrypt.format=luks\n",
        e.stderr());
    Cli.Result v = Cli.run("qcow2", "create", "-f", "vmdk", file, "1M");
    assertEquals(1, v.exitCode());
    assertEquals(
        "qcow2: " + file + ": Unknown file format 'vmdk' (only qcow2 and raw can be created)\n",
        v.stderr());
    assertFalse(Files.exists(Path.of(file)));
  }

  @ParameterizedTest
  @ValueSource(strings = {"qcow2", "raw"})
  void should_list_the_options_as_qemu_img_does(String format) {
    String expected = Qemu.img(dir, "create", "-f", format, "-o", "help");
    Cli.Result r = Cli.run("qcow2", "create", "-f", format, "-o", "help");
    assertEquals(0, r.exitCode());
    assertTrue(r.stdout().startsWith("Supported " + format + " options:\n"), r.stdout());
    // Ours lists a subset (no data_file, no encryption), each line as qemu-img prints it.
    for (String line : r.stdout().split("\n")) {
      assertTrue(expected.contains(line + "\n"), line);
    }
    assertTrue(r.stdout().contains("  size=<size>            - Virtual disk size\n"), r.stdout());
  }
}
