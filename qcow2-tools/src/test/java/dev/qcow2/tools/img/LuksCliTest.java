package dev.qcow2.tools.img;

import static dev.qcow2.tools.img.QemuParity.assertSameJson;
import static dev.qcow2.tools.img.QemuParity.assertSameOutput;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.LuksQemu;
import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The verbs on LUKS-encrypted images, with qemu-img's {@code --object secret}, {@code -o encrypt.*}
 * and {@code --image-opts}: create, info, convert both ways, compare and check, each checked
 * against qemu-img.
 */
@Timeout(180)
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class LuksCliTest {
  private static final String SECRET = "secret,id=sec0,data=hunter2";

  @TempDir Path dir;

  private String path(String name) {
    return dir.resolve(name).toString();
  }

  private String opts(String name) {
    return "driver=qcow2,file.filename=" + path(name) + ",encrypt.key-secret=sec0";
  }

  /** An encrypted image qemu made with the -o options {@code options}, empty. */
  private void qemuCreate(String name, String options, String size) {
    LuksQemu.create(dir, "-q", "-f", "qcow2", "--object", SECRET, "-o", options, path(name), size);
  }

  /** An encrypted image qemu made and wrote. */
  private void qemuImage(String name, String extra) {
    qemuCreate(
        name, "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10" + extra, "8M");
    Qemu.run(
        dir,
        "qemu-io",
        "--object",
        SECRET,
        "--image-opts",
        opts(name),
        "-c",
        "write -P 0x61 0 300k",
        "-c",
        "write -P 0x62 5M 7k");
  }

  /** qemu-img's decryption of q.qcow2, in qemu.raw. */
  private void qemuRaw() {
    Qemu.img(
        dir,
        "convert",
        "--object",
        SECRET,
        "--image-opts",
        opts("q.qcow2"),
        "-O",
        "raw",
        path("qemu.raw"));
  }

  @Test
  void info_shows_the_encrypt_block_as_qemu_does_without_the_secret() throws Exception {
    qemuImage("q.qcow2", "");
    assertSameOutput(dir, "info", path("q.qcow2"));
    assertSameJson(dir, "info", "--output=json", path("q.qcow2"));
    qemuImage(
        "e.qcow2",
        ",encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,"
            + "encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256,encrypt.hash-alg=sha512");
    assertSameOutput(dir, "info", path("e.qcow2"));
    assertSameJson(dir, "info", "--output=json", path("e.qcow2"));
  }

  @Test
  void info_names_the_legacy_aes_method_as_qemu_does() throws Exception {
    // qemu-img still creates the legacy AES-CBC method (we only read it): info says
    // "encrypted: yes" and an encrypt block holding the format alone.
    qemuCreate("aes.qcow2", "encrypt.format=aes,encrypt.key-secret=sec0", "1M");
    String text = assertSameOutput(dir, "info", path("aes.qcow2"));
    assertTrue(text.contains("encrypted: yes"), text);
    assertSameJson(dir, "info", "--output=json", path("aes.qcow2"));
  }

  @Test
  void map_takes_the_secret_and_refuses_the_image_without_it_as_qemu_does() throws Exception {
    qemuImage("q.qcow2", "");
    // JSON without host offsets: an encrypted cluster's bytes there are not the guest's.
    // (MapJson's check of "compressed" reads a data run without offset as compressed, which holds
    // for images without encryption only: here every such run is encrypted, none compressed.)
    String[] args = {"map", "--output=json", "--object", SECRET, "--image-opts", opts("q.qcow2")};
    String want = Qemu.img(dir, args);
    Cli.Result ours = Cli.run(QemuParity.prepend("qcow2", args));
    assertEquals(0, ours.exitCode(), ours.stderr());
    assertEquals(want, ours.stdout().replace(", \"compressed\": false", ""));
    assertTrue(want.contains("\"data\": true") && !want.contains("offset"), want);
    assertTrue(!ours.stdout().contains("\"compressed\": true"), ours.stdout());
    // The human form stops at the first encrypted cluster; without the secret the image does not
    // open at all.
    QemuParity.assertSameFailure(dir, "map", "--object", SECRET, "--image-opts", opts("q.qcow2"));
    QemuParity.assertSameFailure(dir, "map", path("q.qcow2"));
  }

  @Test
  void image_opts_and_a_format_together_are_refused_in_qemus_words() throws Exception {
    qemuImage("q.qcow2", "");
    for (String verb : List.of("info", "check", "map", "resize", "amend")) {
      List<String> args = new java.util.ArrayList<>(List.of(verb, "--image-opts", "-f", "qcow2"));
      if (verb.equals("amend")) {
        args.addAll(List.of("-o", "lazy_refcounts=on"));
      }
      args.add(opts("q.qcow2"));
      if (verb.equals("resize")) {
        args.add("16M");
      }
      List<String> qemu = new java.util.ArrayList<>(args);
      qemu.add(0, "qemu-img");
      Qemu.Result want = Qemu.exec(dir, qemu);
      args.add(0, "qcow2");
      Cli.Result ours = Cli.run(args.toArray(String[]::new));
      assertEquals(want.exitCode(), ours.exitCode(), verb + ": " + ours.stderr());
      assertEquals(want.stderr().replace("qemu-img: ", "qcow2: "), ours.stderr(), verb);
    }
  }

  @Test
  void create_prints_qemus_line_and_qemu_reads_the_image() throws Exception {
    String o =
        "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10,"
            + "encrypt.cipher-alg=aes-128,encrypt.hash-alg=sha1";
    Cli.Result r =
        Cli.run(
            "qcow2",
            "create",
            "-f",
            "qcow2",
            "--object",
            SECRET,
            "-o",
            o,
            path("ours.qcow2"),
            "4M");
    assertEquals("", r.stderr());
    assertEquals(0, r.exitCode());
    String expected =
        LuksQemu.create(
            dir, "-f", "qcow2", "--object", SECRET, "-o", o, "--", path("q.qcow2"), "4M");
    assertEquals(expected.replace("q.qcow2", "ours.qcow2"), r.stdout());
    String check =
        Qemu.run(dir, "qemu-img", "check", "--object", SECRET, "--image-opts", opts("ours.qcow2"));
    assertTrue(check.contains("No errors were found"), check);
    assertTrue(Qemu.img(dir, "info", path("ours.qcow2")).contains("cipher alg: aes-128"));
  }

  @Test
  void convert_decrypts_as_qemu_does_and_encrypts_for_qemu() throws Exception {
    qemuImage("q.qcow2", "");
    qemuRaw();
    Cli.Result r =
        Cli.run(
            "qcow2",
            "convert",
            "--object",
            SECRET,
            "--image-opts",
            opts("q.qcow2"),
            "-O",
            "raw",
            path("ours.raw"));
    assertEquals("", r.stderr());
    assertArrayEquals(
        Files.readAllBytes(dir.resolve("qemu.raw")), Files.readAllBytes(dir.resolve("ours.raw")));

    r =
        Cli.run(
            "qcow2",
            "convert",
            "--object",
            SECRET,
            "-O",
            "qcow2",
            "-o",
            "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10",
            path("qemu.raw"),
            path("enc.qcow2"));
    assertEquals("", r.stderr());
    Qemu.run(
        dir,
        "qemu-img",
        "compare",
        "--object",
        SECRET,
        "--image-opts",
        opts("enc.qcow2"),
        "driver=raw,file.filename=" + path("qemu.raw"));
    String check =
        Qemu.run(dir, "qemu-img", "check", "--object", SECRET, "--image-opts", opts("enc.qcow2"));
    assertTrue(check.contains("No errors were found"), check);
  }

  @Test
  void compare_and_check_take_the_secret() throws Exception {
    qemuImage("q.qcow2", "");
    qemuRaw();
    Cli.Result r =
        Cli.run(
            "qcow2",
            "compare",
            "--object",
            SECRET,
            "--image-opts",
            opts("q.qcow2"),
            "driver=raw,file.filename=" + path("qemu.raw"));
    assertEquals("Images are identical.\n", r.stdout(), r.stderr());
    r = Cli.run("qcow2", "check", "--object", SECRET, "--image-opts", opts("q.qcow2"));
    assertEquals(0, r.exitCode(), r.stderr());
    assertEquals(
        "No errors were found on the image.\n",
        r.stdout().substring(0, "No errors were found on the image.\n".length()));
  }

  @Test
  void io_writes_what_qemu_then_reads() {
    qemuImage("q.qcow2", "");
    Cli.Result r =
        Cli.run(
            "qcow2",
            "io",
            "--object",
            SECRET,
            "--image-opts",
            opts("q.qcow2"),
            "-c",
            "write -P 0x77 100k 5000",
            "-c",
            "read -P 0x77 100k 5000");
    assertEquals(0, r.exitCode(), r.stderr());
    String read =
        Qemu.run(
            dir,
            "qemu-io",
            "--object",
            SECRET,
            "--image-opts",
            opts("q.qcow2"),
            "-c",
            "read -P 0x77 100k 5000",
            "-c",
            "read -P 0x61 0 100k",
            "-c",
            "read -P 0x61 107400 199800");
    // qemu-io exits 0 on a pattern mismatch; its words say so.
    assertTrue(!read.contains("failed") && read.contains("read 199800/199800"), read);
    String check =
        Qemu.run(dir, "qemu-img", "check", "--object", SECRET, "--image-opts", opts("q.qcow2"));
    assertTrue(check.contains("No errors were found"), check);
  }

  @Test
  void a_wrong_passphrase_is_qemus_one_line() {
    qemuImage("q.qcow2", "");
    String wrong = "secret,id=sec0,data=wrong";
    Qemu.Result q =
        Qemu.exec(
            dir,
            java.util.List.of(
                "qemu-img",
                "convert",
                "--object",
                wrong,
                "--image-opts",
                opts("q.qcow2"),
                "-O",
                "raw",
                path("x.raw")));
    Cli.Result r =
        Cli.run(
            "qcow2",
            "convert",
            "--object",
            wrong,
            "--image-opts",
            opts("q.qcow2"),
            "-O",
            "raw",
            path("y.raw"));
    assertEquals(1, r.exitCode());
    assertTrue(q.stderr().contains("Invalid password, cannot unlock any keyslot"), q.stderr());
    assertEquals(
        "qcow2: Could not open '"
            + path("q.qcow2")
            + "': Invalid password, cannot unlock any keyslot\n",
        r.stderr());
  }

  @Test
  void secrets_come_from_files_and_base64_too() throws Exception {
    qemuImage("q.qcow2", "");
    Files.write(dir.resolve("pass"), "hunter2".getBytes(StandardCharsets.UTF_8));
    String b64 = Base64.getEncoder().encodeToString("hunter2".getBytes(StandardCharsets.UTF_8));
    qemuRaw();
    for (String object :
        new String[] {
          "secret,id=sec0,file=" + path("pass"), "secret,id=sec0,data=" + b64 + ",format=base64"
        }) {
      Cli.Result r =
          Cli.run(
              "qcow2",
              "compare",
              "--object",
              object,
              "--image-opts",
              opts("q.qcow2"),
              "driver=raw,file.filename=" + path("qemu.raw"));
      assertEquals("Images are identical.\n", r.stdout(), object + ": " + r.stderr());
    }
  }
}
