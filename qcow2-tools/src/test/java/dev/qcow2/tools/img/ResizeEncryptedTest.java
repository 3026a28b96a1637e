package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code qcow2 resize} of a LUKS-encrypted image with qemu-img's {@code --object secret} and {@code
 * --image-opts}: grown and shrunk as qemu-img resizes a copy, checked and decrypted by qemu, and
 * refused without the right secret as qemu-img refuses it.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ResizeEncryptedTest {
  private static final String SECRET = LuksImages.SECRET;

  @TempDir Path dir;

  private LuksImages luks;

  @BeforeEach
  void fixture() {
    luks = new LuksImages(dir);
  }

  private String path(String name) {
    return luks.path(name);
  }

  private String opts(String name) {
    return luks.opts(name);
  }

  /**
   * An 8 MiB encrypted image qemu made and wrote, as ours.qcow2 and theirs.qcow2, and qemu-img's
   * decryption of it as the plain image plain.qcow2.
   */
  private void images() throws Exception {
    luks.create(
        "ours.qcow2",
        "8M",
        "write -P 0x61 0 300k",
        "write -P 0x62 5M 7k",
        "write -P 0x63 8100k 92k");
    Files.copy(dir.resolve("ours.qcow2"), dir.resolve("theirs.qcow2"));
    luks.decrypt("ours.qcow2", "qcow2", "plain.qcow2");
  }

  private Cli.Result ours(String... args) {
    List<String> all =
        new ArrayList<>(List.of("qcow2", "resize", "--object", SECRET, "--image-opts"));
    all.addAll(List.of(args));
    return Cli.run(all.toArray(String[]::new));
  }

  private Qemu.Result theirs(String... args) {
    List<String> all =
        new ArrayList<>(List.of("qemu-img", "resize", "--object", SECRET, "--image-opts"));
    all.addAll(List.of(args));
    return Qemu.exec(dir, all);
  }

  /** ours.qcow2 is clean, the size qemu-img gave theirs.qcow2, and decrypts as theirs does. */
  private void assertSameAsQemus() {
    luks.assertClean("ours.qcow2");
    assertEquals(virtualSize("theirs.qcow2"), virtualSize("ours.qcow2"));
    luks.assertIdentical("ours.qcow2", opts("theirs.qcow2"));
  }

  private String virtualSize(String name) {
    return Qemu.img(dir, "info", path(name))
        .lines()
        .filter(l -> l.startsWith("virtual size"))
        .findFirst()
        .orElseThrow();
  }

  @ParameterizedTest
  @ValueSource(strings = {"+2M", "12M", "10000k"})
  void growing_gives_an_image_qemu_decrypts_with_zeros_in_the_new_area(String size)
      throws Exception {
    images();
    Cli.Result r = ours(opts("ours.qcow2"), size);
    Qemu.Result q = theirs(opts("theirs.qcow2"), size);
    assertEquals(q.exitCode(), r.exitCode(), r.stderr());
    assertEquals(q.stdout(), r.stdout());
    assertSameAsQemus();
    String info = Qemu.img(dir, "info", path("ours.qcow2"));
    long bytes =
        Long.parseLong(info.replaceAll("(?s).*virtual size: [^(]*\\((\\d+) bytes\\).*", "$1"));
    luks.io("ours.qcow2", "read -P 0 8M " + (bytes - (8 << 20)), "read -P 0x63 8100k 92k");
    // Against a plain copy grown by qemu-img: the same disk, decrypted.
    Qemu.img(dir, "resize", path("plain.qcow2"), size);
    luks.assertIdentical("ours.qcow2", "driver=qcow2,file.filename=" + path("plain.qcow2"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"-3M", "5M", "5123k"})
  void shrinking_with_the_option_cuts_the_disk_as_qemu_img_does(String size) throws Exception {
    images();
    Cli.Result r = ours("--shrink", opts("ours.qcow2"), size);
    Qemu.Result q = theirs("--shrink", opts("theirs.qcow2"), size);
    assertEquals(q.exitCode(), r.exitCode(), q.stderr() + " / " + r.stderr());
    assertEquals(q.stdout(), r.stdout());
    assertSameAsQemus();
  }

  @Test
  void without_the_option_or_the_right_secret_nothing_changes() throws Exception {
    images();
    Cli.Result r = ours(opts("ours.qcow2"), "-1M");
    Qemu.Result q = theirs(opts("theirs.qcow2"), "-1M");
    assertEquals(1, r.exitCode());
    assertEquals(q.stderr().replace("qemu-img: ", "qcow2: "), r.stderr());

    Cli.Result none = Cli.run("qcow2", "resize", path("ours.qcow2"), "+1M");
    Qemu.Result qNone = Qemu.exec(dir, List.of("qemu-img", "resize", path("theirs.qcow2"), "+1M"));
    assertEquals(1, none.exitCode());
    assertEquals(1, qNone.exitCode());
    assertEquals(
        qNone.stderr().replace("qemu-img: ", "qcow2: ").replace("theirs.qcow2", "ours.qcow2"),
        none.stderr());

    Cli.Result wrong =
        Cli.run(
            "qcow2",
            "resize",
            "--object",
            "secret,id=sec0,data=wrong",
            "--image-opts",
            opts("ours.qcow2"),
            "+1M");
    assertEquals(1, wrong.exitCode());
    assertEquals(
        "qcow2: Could not open '"
            + path("ours.qcow2")
            + "': Invalid password, cannot unlock any keyslot\n",
        wrong.stderr());
    assertSameAsQemus(); // both still as made
    assertEquals(-1, Files.mismatch(dir.resolve("ours.qcow2"), dir.resolve("theirs.qcow2")));
  }
}
