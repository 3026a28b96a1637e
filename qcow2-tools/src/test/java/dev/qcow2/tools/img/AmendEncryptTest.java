package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.LuksQemu;
import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code qcow2 amend} on the key slots of LUKS-encrypted images against {@code qemu-img amend}: the
 * same command line on two copies of one image gives the same exit code, the same message, the same
 * slots afterwards (qemu-img info), and qemu opens the result with the passphrases that should open
 * it, and only with those, finding the content unchanged.
 */
@Timeout(300)
class AmendEncryptTest {
  private static final List<String> SECRETS =
      List.of(
          "--object",
          "secret,id=sec0,data=hunter2",
          "--object",
          "secret,id=sec1,data=correct horse",
          "--object",
          "secret,id=sec2,data=third");

  @TempDir Path dir;

  private Path side(String side) {
    return dir.resolve(side).resolve("a.qcow2");
  }

  private String opts(String side, String keyId) {
    return "driver=qcow2,file.filename=" + side(side) + ",encrypt.key-secret=" + keyId;
  }

  /**
   * An image qemu made under sec0 and wrote, with {@code slots} slots (slot 1 under sec1), copied
   * to ours/ and theirs/; its content in expected.raw.
   */
  private void image(int slots) throws Exception {
    List<String> create = new ArrayList<>(List.of("-q", "-f", "qcow2"));
    create.addAll(SECRETS);
    create.addAll(
        List.of(
            "-o",
            "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10",
            dir.resolve("a.qcow2").toString(),
            "8M"));
    LuksQemu.create(dir, create.toArray(String[]::new));
    String base = "driver=qcow2,file.filename=a.qcow2,encrypt.key-secret=sec0";
    List<String> io = new ArrayList<>(List.of("qemu-io"));
    io.addAll(SECRETS);
    io.addAll(
        List.of("--image-opts", base, "-c", "write -P 0x61 0 300k", "-c", "write -P 9 5M 7k"));
    Qemu.run(dir, io.toArray(String[]::new));
    if (slots == 2) {
      List<String> amend = new ArrayList<>(List.of("amend"));
      amend.addAll(SECRETS);
      amend.addAll(
          List.of(
              "--image-opts",
              "-o",
              "encrypt.state=active,encrypt.new-secret=sec1,encrypt.iter-time=10",
              base));
      Qemu.Result r = LuksQemu.img(dir, amend.toArray(String[]::new));
      assertEquals(0, r.exitCode(), r.stderr());
    }
    List<String> convert = new ArrayList<>(List.of("qemu-img", "convert"));
    convert.addAll(SECRETS);
    convert.addAll(List.of("--image-opts", base, "-O", "raw", "expected.raw"));
    Qemu.run(dir, convert.toArray(String[]::new));
    for (String side : List.of("ours", "theirs")) {
      Files.createDirectories(dir.resolve(side));
      Files.copy(dir.resolve("a.qcow2"), side(side));
    }
  }

  /**
   * {@code qcow2 amend ARGS} on ours/a.qcow2 and {@code qemu-img amend ARGS} on theirs/a.qcow2,
   * with the image opened with secret {@code keyId}: the same exit code and the same messages (the
   * image name our library puts first removed, the folders made alike).
   */
  private int amendBoth(String keyId, boolean force, String o) {
    Qemu.Result q = LuksQemu.img(dir, args("theirs", keyId, force, o).toArray(String[]::new));
    Cli.Result r = ours(keyId, force, o);
    String context = o + ": qemu " + q.stderr() + " / ours " + r.stderr();
    assertEquals(q.exitCode(), r.exitCode(), context);
    String expected =
        q.stderr().replace("/theirs/", "/ours/").replaceAll("(?m)^qemu-img: ", "qcow2: ");
    assertEquals(expected, r.stderr().replace(side("ours") + ": ", ""), context);
    return r.exitCode();
  }

  private Cli.Result ours(String keyId, boolean force, String o) {
    List<String> a = args("ours", keyId, force, o);
    a.add(0, "qcow2");
    return Cli.run(a.toArray(String[]::new));
  }

  /** amend's arguments, without the program. */
  private List<String> args(String side, String keyId, boolean force, String o) {
    List<String> a = new ArrayList<>(List.of("amend"));
    a.addAll(SECRETS);
    if (force) {
      a.add("--force");
    }
    a.addAll(List.of("--image-opts", "-o", o, opts(side, keyId)));
    return a;
  }

  /** What qemu-img info shows of the key slots of both copies, which must agree. */
  private String sameSlots() {
    String ours = slotLines("ours");
    assertEquals(slotLines("theirs"), ours);
    return ours;
  }

  private String slotLines(String side) {
    StringBuilder sb = new StringBuilder();
    for (String line : Qemu.img(dir, "info", side(side).toString()).split("\n")) {
      if (line.strip().startsWith("active:")) {
        sb.append(line.strip()).append('\n');
      }
    }
    return sb.toString();
  }

  /** qemu opens the copy with {@code keyId}: check is clean and the content is expected.raw. */
  private void assertOpens(String side, String keyId) {
    List<String> check = new ArrayList<>(List.of("qemu-img", "check"));
    check.addAll(SECRETS);
    check.addAll(List.of("--image-opts", opts(side, keyId)));
    assertTrue(Qemu.run(dir, check.toArray(String[]::new)).contains("No errors were found"));
    List<String> compare = new ArrayList<>(List.of("qemu-img", "compare"));
    compare.addAll(SECRETS);
    compare.addAll(
        List.of("--image-opts", opts(side, keyId), "driver=raw,file.filename=expected.raw"));
    Qemu.run(dir, compare.toArray(String[]::new));
  }

  private void assertRefuses(String side, String keyId) {
    List<String> io = new ArrayList<>(List.of("qemu-io"));
    io.addAll(SECRETS);
    io.addAll(List.of("--image-opts", opts(side, keyId), "-c", "read 0 512"));
    Qemu.Result r = Qemu.exec(dir, io);
    assertTrue(
        r.exitCode() != 0 && r.stderr().contains("Invalid password, cannot unlock any keyslot"),
        r.stderr());
  }

  @Test
  void key_slots_are_added_and_erased_as_qemu_img_does() throws Exception {
    image(1);
    assertEquals(
        0,
        amendBoth(
            "sec0",
            false,
            "encrypt.state=active,encrypt.keyslot=2,encrypt.new-secret=sec1,encrypt.iter-time=10"));
    assertEquals(
        "active: true\nactive: false\nactive: true\n" + "active: false\n".repeat(5), sameSlots());
    assertOpens("ours", "sec1");
    assertOpens("ours", "sec0");
    // qcow2 info shows the slots as qemu-img info does.
    QemuParity.assertSameOutput(dir, "info", side("ours").toString());
    assertEquals(0, amendBoth("sec1", false, "encrypt.state=inactive,encrypt.old-secret=sec0"));
    assertEquals(
        "active: false\nactive: false\nactive: true\n" + "active: false\n".repeat(5), sameSlots());
    assertRefuses("ours", "sec0");
    assertOpens("ours", "sec1");
    QemuParity.assertSameJson(dir, "info", "--output=json", side("ours").toString());
    // --force lets a slot be overwritten, and the last one erased.
    assertEquals(
        0,
        amendBoth(
            "sec1",
            true,
            "encrypt.state=active,encrypt.keyslot=2,encrypt.new-secret=sec2,encrypt.iter-time=10"));
    assertRefuses("ours", "sec1");
    assertOpens("ours", "sec2");
    assertEquals(0, amendBoth("sec2", true, "encrypt.state=inactive,encrypt.keyslot=2"));
    assertEquals("active: false\n".repeat(8), sameSlots());
    assertRefuses("ours", "sec2");
  }

  @ParameterizedTest(name = "{0} slot(s), key {1}: {2}")
  @CsvSource(
      delimiter = '|',
      value = {
        "2 | sec0 | encrypt.state=active,encrypt.new-secret=sec2,encrypt.keyslot=1",
        "2 | sec0 | encrypt.state=active,encrypt.new-secret=sec2,encrypt.keyslot=-1",
        "2 | sec0 | encrypt.state=inactive,encrypt.keyslot=0x10",
        "2 | sec0 | encrypt.state=inactive,encrypt.keyslot=abc",
        "2 | sec0 | encrypt.state=inactive,encrypt.keyslot=99999999999999999999",
        "2 | sec0 | encrypt.state=active,encrypt.iter-time=10",
        "2 | sec0 | encrypt.state=inactive,encrypt.keyslot=5",
        "2 | sec0 | encrypt.state=inactive,encrypt.old-secret=sec2",
        "2 | sec0 | encrypt.state=inactive",
        "2 | sec0 | encrypt.state=bogus,encrypt.keyslot=1",
        "2 | sec0 | encrypt.keyslot=1",
        "2 | sec0 | encrypt.cipher-alg=aes-128",
        "2 | sec0 | encrypt.state=active,encrypt.new-secret=nosuch",
        "2 | sec2 | encrypt.state=active,encrypt.new-secret=sec2",
        "2 | nosuch | encrypt.state=active,encrypt.new-secret=sec2",
        "1 | sec0 | encrypt.state=inactive,encrypt.keyslot=0",
        "1 | sec0 | encrypt.state=inactive,encrypt.old-secret=sec0",
      })
  void refusals_are_qemu_imgs(int slots, String keyId, String o) throws Exception {
    image(slots);
    byte[] before = Files.readAllBytes(dir.resolve("a.qcow2"));
    assertEquals(1, amendBoth(keyId, false, o));
    assertTrue(java.util.Arrays.equals(before, Files.readAllBytes(side("ours"))), "ours changed");
  }

  @Test
  void a_full_header_is_refused_as_qemu_img_does() throws Exception {
    image(1);
    for (int i = 1; i < 8; i++) {
      String o =
          "encrypt.state=active,encrypt.new-secret=sec" + (1 + i % 2) + ",encrypt.iter-time=0";
      Cli.Result r = ours("sec0", false, o);
      assertEquals(0, r.exitCode(), r.stderr());
    }
    assertEquals("active: true\n".repeat(8), slotLines("ours"));
    assertOpens("ours", "sec2");
    Files.copy(side("ours"), side("theirs"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    assertEquals(1, amendBoth("sec0", false, "encrypt.state=active,encrypt.new-secret=sec1"));
  }

  @Test
  void without_the_key_secret_the_image_is_refused_before_its_options_are_read() throws Exception {
    // qemu-img opens the image before it reads -o: whatever the options (key slots, others, or
    // ones it does not know), an encrypted image without its secret is refused in the same words.
    image(1);
    byte[] before = Files.readAllBytes(side("ours"));
    for (String o :
        List.of("encrypt.state=active,encrypt.new-secret=sec1", "lazy_refcounts=on", "bogus=1")) {
      List<String> a = new ArrayList<>(List.of("amend"));
      a.addAll(SECRETS);
      a.addAll(List.of("-o", o));
      List<String> q = new ArrayList<>(a);
      q.add(side("theirs").toString());
      Qemu.Result want = LuksQemu.img(dir, q.toArray(String[]::new));
      a.add(0, "qcow2");
      a.add(side("ours").toString());
      Cli.Result r = Cli.run(a.toArray(String[]::new));
      assertEquals(1, want.exitCode(), o);
      assertEquals(want.exitCode(), r.exitCode(), o + ": " + r.stderr());
      assertEquals(
          want.stderr().replace("/theirs/", "/ours/").replaceAll("(?m)^qemu-img: ", "qcow2: "),
          r.stderr(),
          o);
    }
    assertArrayEquals(before, Files.readAllBytes(side("ours")));
  }
}
