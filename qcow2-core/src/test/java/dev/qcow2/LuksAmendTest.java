package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.qcow2.crypto.LuksAmendOptions;
import dev.qcow2.crypto.LuksException;
import dev.qcow2.crypto.LuksOptions;
import dev.qcow2.testing.LuksQemu;
import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * qemu-img amend's LUKS key slot changes through {@link Qcow2Image#amend}, both ways against qemu
 * 7.2: slots we add and erase in images qemu made, qemu opens with the new passphrase and refuses
 * with the erased one; slots qemu adds and erases in images we made, we open and refuse alike;
 * every refusal has qemu-img's words for the same request; the content never changes.
 */
@Timeout(300)
class LuksAmendTest {
  /** The passphrases, by qemu secret id; sec0 is the one the test images are made with. */
  private static final Map<String, String> SECRETS =
      new TreeMap<>(
          Map.of("sec0", LuksImageReadTest.PASS, "sec1", "battery staple", "sec2", "third one"));

  @TempDir Path dir;

  private static byte[] bytes(String id) {
    return SECRETS.get(id).getBytes(StandardCharsets.UTF_8);
  }

  private static List<String> objects() {
    List<String> args = new ArrayList<>();
    SECRETS.forEach(
        (id, pass) -> args.addAll(List.of("--object", "secret,id=" + id + ",data=" + pass)));
    return args;
  }

  private static String opts(String file, String keyId) {
    return "driver=qcow2,file.filename=" + file + ",encrypt.key-secret=" + keyId;
  }

  /** qemu-img amend with our secrets and the image opened with secret {@code keyId}. */
  private Qemu.Result qemuAmend(String file, String keyId, String o, boolean force) {
    List<String> args = new ArrayList<>(List.of("amend"));
    args.addAll(objects());
    if (force) {
      args.add("--force");
    }
    args.addAll(List.of("--image-opts", "-o", o, opts(file, keyId)));
    return LuksQemu.img(dir, args.toArray(String[]::new));
  }

  /**
   * Our amend of {@code file}, opened with secret {@code keyId}, with qemu-img's option string
   * {@code o} read into a {@link LuksAmendOptions}.
   */
  private void ourAmend(String file, String keyId, String o, boolean force) throws IOException {
    LuksAmendOptions.Builder b = LuksAmendOptions.builder();
    for (String item : o.split(",")) {
      String[] kv = item.split("=", 2);
      switch (kv[0]) {
        case "encrypt.state" -> b.state(LuksAmendOptions.State.valueOf(kv[1].toUpperCase()));
        case "encrypt.keyslot" -> b.keyslot(Integer.parseInt(kv[1]));
        case "encrypt.iter-time" -> b.iterTimeMillis(Long.parseLong(kv[1]));
        case "encrypt.old-secret" -> b.oldSecret(bytes(kv[1]));
        case "encrypt.new-secret" -> b.newSecret(bytes(kv[1]));
        default -> fail("not a key slot option: " + item);
      }
    }
    LuksAmendOptions change = b.build();
    try {
      Qcow2Image.amend(
          dir.resolve(file),
          AmendOptions.builder().encryptionKey(bytes(keyId)).keySlots(change).force(force).build());
    } finally {
      change.destroy();
    }
  }

  /** Our amend adds a key slot under sec1 to {@code file}, opened with sec0. */
  private void addSec1(String file) throws IOException {
    ourAmend(
        file, "sec0", "encrypt.state=active,encrypt.new-secret=sec1,encrypt.iter-time=10", false);
  }

  /** Which key slots qemu-img info shows active. */
  private List<Boolean> activeSlots(String file) {
    List<Boolean> active = new ArrayList<>();
    for (String line : Qemu.img(dir, "info", file).split("\n")) {
      if (line.strip().startsWith("active: ")) {
        active.add(line.strip().equals("active: true"));
      }
    }
    assertEquals(8, active.size());
    return active;
  }

  private static List<Boolean> slots(int... active) {
    List<Boolean> l =
        new ArrayList<>(List.of(false, false, false, false, false, false, false, false));
    for (int i : active) {
      l.set(i, true);
    }
    return l;
  }

  /** qemu-img check finds {@code file} clean and compare finds it equal to expected.raw. */
  private void assertContent(String file, String keyId) {
    List<String> check = new ArrayList<>(List.of("qemu-img", "check"));
    check.addAll(objects());
    check.addAll(List.of("--image-opts", opts(file, keyId)));
    String out = Qemu.run(dir, check.toArray(String[]::new));
    assertTrue(out.contains("No errors were found"), out);
    List<String> compare = new ArrayList<>(List.of("qemu-img", "compare"));
    compare.addAll(objects());
    compare.addAll(
        List.of("--image-opts", opts(file, keyId), "driver=raw,file.filename=expected.raw"));
    Qemu.run(dir, compare.toArray(String[]::new));
  }

  /** qemu-io cannot open {@code file} with secret {@code keyId}, for qemu's reason. */
  private void assertQemuRefuses(String file, String keyId) {
    List<String> io = new ArrayList<>(List.of("qemu-io"));
    io.addAll(objects());
    io.addAll(List.of("--image-opts", opts(file, keyId), "-c", "read 0 512"));
    Qemu.Result r = Qemu.exec(dir, io);
    assertTrue(
        r.exitCode() != 0 && r.stderr().contains("Invalid password, cannot unlock any keyslot"),
        r.exitCode() + " " + r.stdout() + r.stderr());
  }

  /** A 4 MiB image qemu made under sec0 and wrote, its content in expected.raw. */
  private void qemuImage(String file) throws IOException {
    LuksImageReadTest.qemuImage(dir, file, "");
    Files.write(dir.resolve("expected.raw"), LuksImageReadTest.qemuRaw(dir, file));
  }

  @Test
  void qemu_opens_slots_we_add_and_refuses_slots_we_erase() throws Exception {
    qemuImage("q.qcow2");
    addSec1("q.qcow2");
    assertEquals(slots(0, 1), activeSlots("q.qcow2"));
    List<String> io = new ArrayList<>(List.of("qemu-io"));
    io.addAll(objects());
    io.addAll(List.of("--image-opts", opts("q.qcow2", "sec1"), "-c", "read -P 0x11 1M 64k"));
    String read = Qemu.run(dir, io.toArray(String[]::new));
    assertTrue(read.contains("read 65536/65536 bytes") && !read.contains("failed"), read);
    assertContent("q.qcow2", "sec1");
    assertContent("q.qcow2", "sec0");

    ourAmend("q.qcow2", "sec1", "encrypt.state=inactive,encrypt.old-secret=sec0", false);
    assertEquals(slots(1), activeSlots("q.qcow2"));
    assertQemuRefuses("q.qcow2", "sec0");
    assertContent("q.qcow2", "sec1");
  }

  @Test
  void we_open_slots_qemu_adds_and_refuse_slots_it_erases() throws Exception {
    byte[] expected = new byte[4 << 20];
    long seed = System.nanoTime();
    CreateOptions co =
        CreateOptions.builder(4 << 20)
            .encryption(new LuksOptions("aes-256", "xts", "plain64", null, "sha256", 10))
            .build();
    Path ours = dir.resolve("ours.qcow2");
    try (Qcow2Image img = Qcow2Image.create(ours, co, withKey("sec0"))) {
      LuksImageWriteTest.writeSome(img, expected, seed);
    }
    Files.write(dir.resolve("expected.raw"), expected);

    Qemu.Result add =
        qemuAmend(
            "ours.qcow2",
            "sec0",
            "encrypt.state=active,encrypt.keyslot=3,encrypt.new-secret=sec1,encrypt.iter-time=10",
            false);
    assertEquals(0, add.exitCode(), add.stderr());
    assertEquals(slots(0, 3), activeSlots("ours.qcow2"));
    assertArrayEquals(expected, LuksImageReadTest.ourRead(ours, withKey("sec0")), "seed " + seed);
    assertArrayEquals(expected, LuksImageReadTest.ourRead(ours, withKey("sec1")), "seed " + seed);

    Qemu.Result erase =
        qemuAmend("ours.qcow2", "sec1", "encrypt.state=inactive,encrypt.keyslot=0", false);
    assertEquals(0, erase.exitCode(), erase.stderr());
    LuksException e =
        assertThrows(LuksException.class, () -> LuksImageReadTest.ourRead(ours, withKey("sec0")));
    assertEquals(LuksException.Kind.INVALID_PASSWORD, e.kind());
    assertArrayEquals(expected, LuksImageReadTest.ourRead(ours, withKey("sec1")), "seed " + seed);
    try (Qcow2Image img = Qcow2Image.open(ours, withKey("sec1"))) {
      assertEquals(
          slots(3), img.info().encryption().slots().stream().map(s -> s.active()).toList());
    }
    assertContent("ours.qcow2", "sec1");
  }

  private static OpenOptions withKey(String id) {
    return OpenOptions.builder().encryptionKey(bytes(id)).build();
  }

  /**
   * Each request, refused, in qemu-img's words: the image has slot 0 under sec0 and slot 1 under
   * sec1, or (one slot) slot 0 alone; qemu-img amend and ours run on copies, and neither changes.
   */
  @ParameterizedTest(name = "{0} slot(s), key {1}: {2}")
  @CsvSource(
      delimiter = '|',
      value = {
        "2 | sec0 | encrypt.state=active,encrypt.new-secret=sec2,encrypt.keyslot=1",
        "2 | sec0 | encrypt.state=active,encrypt.new-secret=sec2,encrypt.keyslot=8",
        "2 | sec0 | encrypt.state=active,encrypt.new-secret=sec2,encrypt.keyslot=-1",
        "2 | sec0 | encrypt.state=inactive,encrypt.keyslot=9",
        "2 | sec0 | encrypt.state=inactive,encrypt.keyslot=-1",
        "2 | sec0 | encrypt.state=active,encrypt.iter-time=10",
        "2 | sec0 | encrypt.state=active,encrypt.new-secret=sec2,encrypt.old-secret=sec0",
        "2 | sec0 | encrypt.state=inactive,encrypt.keyslot=1,encrypt.new-secret=sec2",
        "2 | sec0 | encrypt.state=inactive,encrypt.keyslot=1,encrypt.iter-time=10",
        "2 | sec0 | encrypt.state=inactive",
        "2 | sec0 | encrypt.state=inactive,encrypt.keyslot=5",
        "2 | sec0 | encrypt.state=inactive,encrypt.keyslot=1,encrypt.old-secret=sec0",
        "2 | sec0 | encrypt.state=inactive,encrypt.old-secret=sec2",
        "2 | sec0 | encrypt.keyslot=1",
        "2 | sec2 | encrypt.state=active,encrypt.new-secret=sec2",
        "1 | sec0 | encrypt.state=inactive,encrypt.keyslot=0",
        "1 | sec0 | encrypt.state=inactive,encrypt.old-secret=sec0",
      })
  void refusals_are_qemus(int slotCount, String keyId, String o) throws Exception {
    qemuImage("a.qcow2");
    if (slotCount == 2) {
      addSec1("a.qcow2");
    }
    Files.copy(dir.resolve("a.qcow2"), dir.resolve("b.qcow2"));
    byte[] before = Files.readAllBytes(dir.resolve("a.qcow2"));
    Qemu.Result q = qemuAmend("b.qcow2", keyId, o, false);
    assertEquals(1, q.exitCode(), q.stdout() + q.stderr());
    Exception e = assertThrows(Exception.class, () -> ourAmend("a.qcow2", keyId, o, false));
    assertEquals(qemuMessage(q), ourMessage(e));
    assertArrayEquals(before, Files.readAllBytes(dir.resolve("a.qcow2")), "our image changed");
    assertArrayEquals(before, Files.readAllBytes(dir.resolve("b.qcow2")), "qemu's image changed");
  }

  /** qemu-img's first error line, without its program name or "Could not open 'X': ". */
  private static String qemuMessage(Qemu.Result q) {
    return q.stderr()
        .lines()
        .findFirst()
        .orElse("")
        .replaceFirst("^qemu-img: ", "")
        .replaceFirst("^Could not open '[^']*': ", "");
  }

  /** Our message without the image name the library puts first. */
  private String ourMessage(Exception e) {
    return e.getMessage().replace(dir.resolve("a.qcow2") + ": ", "");
  }

  @Test
  void force_erases_the_last_slot_and_overwrites_an_active_one() throws Exception {
    qemuImage("q.qcow2");
    addSec1("q.qcow2");
    ourAmend(
        "q.qcow2",
        "sec0",
        "encrypt.state=active,encrypt.keyslot=1,encrypt.new-secret=sec2,encrypt.iter-time=10",
        true);
    assertEquals(slots(0, 1), activeSlots("q.qcow2"));
    assertQemuRefuses("q.qcow2", "sec1");
    assertContent("q.qcow2", "sec2");
    ourAmend("q.qcow2", "sec2", "encrypt.state=inactive,encrypt.keyslot=0", false);
    ourAmend("q.qcow2", "sec2", "encrypt.state=inactive,encrypt.old-secret=sec2", true);
    assertEquals(slots(), activeSlots("q.qcow2"));
    for (String id : SECRETS.keySet()) {
      assertQemuRefuses("q.qcow2", id);
    }
    // No passphrase opens the image now, so qemu-img check cannot either: info (which needs
    // none) showed every slot off above.
  }

  @Test
  void an_old_secret_erases_every_slot_it_opens_as_in_qemu() throws Exception {
    qemuImage("a.qcow2");
    addSec1("a.qcow2");
    ourAmend(
        "a.qcow2",
        "sec0",
        "encrypt.state=active,encrypt.new-secret=sec0,encrypt.iter-time=0",
        false);
    assertEquals(slots(0, 1, 2), activeSlots("a.qcow2"));
    Files.copy(dir.resolve("a.qcow2"), dir.resolve("b.qcow2"));
    Qemu.Result q =
        qemuAmend("b.qcow2", "sec1", "encrypt.state=inactive,encrypt.old-secret=sec0", false);
    assertEquals(0, q.exitCode(), q.stderr());
    ourAmend("a.qcow2", "sec1", "encrypt.state=inactive,encrypt.old-secret=sec0", false);
    assertEquals(slots(1), activeSlots("b.qcow2"));
    assertEquals(slots(1), activeSlots("a.qcow2"));
    assertQemuRefuses("a.qcow2", "sec0");
    assertContent("a.qcow2", "sec1");
  }

  @Test
  void no_free_slot_is_refused_as_qemu_does() throws Exception {
    qemuImage("a.qcow2");
    for (int i = 1; i < 8; i++) {
      ourAmend(
          "a.qcow2",
          "sec0",
          "encrypt.state=active,encrypt.new-secret="
              + (i % 2 == 0 ? "sec2" : "sec1")
              + ",encrypt.iter-time=0",
          false);
    }
    assertEquals(slots(0, 1, 2, 3, 4, 5, 6, 7), activeSlots("a.qcow2"));
    assertContent("a.qcow2", "sec2");
    Files.copy(dir.resolve("a.qcow2"), dir.resolve("b.qcow2"), StandardCopyOption.REPLACE_EXISTING);
    String o = "encrypt.state=active,encrypt.new-secret=sec1,encrypt.iter-time=10";
    Qemu.Result q = qemuAmend("b.qcow2", "sec0", o, false);
    assertEquals(1, q.exitCode(), q.stderr());
    Exception e = assertThrows(Exception.class, () -> ourAmend("a.qcow2", "sec0", o, false));
    assertEquals(qemuMessage(q), ourMessage(e));
    assertEquals("Can't add a keyslot - all keyslots are in use", ourMessage(e));
  }

  @Test
  void images_without_luks_and_a_missing_key_are_refused_as_qemu_does() throws Exception {
    String o = "encrypt.state=active,encrypt.new-secret=sec1";
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "a.qcow2", "1M");
    Files.copy(dir.resolve("a.qcow2"), dir.resolve("b.qcow2"));
    Qemu.Result q = qemuAmend("b.qcow2", "sec0", o, false);
    Exception e = assertThrows(Exception.class, () -> ourAmend("a.qcow2", "sec0", o, false));
    assertEquals("Can't amend encryption options - encryption not present", qemuMessage(q));
    assertEquals(qemuMessage(q), ourMessage(e));

    Files.delete(dir.resolve("a.qcow2"));
    Files.delete(dir.resolve("b.qcow2"));
    List<String> aes = new ArrayList<>(List.of("create", "-q", "-f", "qcow2"));
    aes.addAll(objects());
    aes.addAll(List.of("-o", "encrypt.format=aes,encrypt.key-secret=sec0", "a.qcow2", "1M"));
    Qemu.img(dir, aes.toArray(String[]::new));
    Files.copy(dir.resolve("a.qcow2"), dir.resolve("b.qcow2"));
    q = qemuAmend("b.qcow2", "sec0", o, false);
    e = assertThrows(Exception.class, () -> ourAmend("a.qcow2", "sec0", o, false));
    assertEquals("Only LUKS encryption options can be amended", qemuMessage(q));
    assertEquals(qemuMessage(q), ourMessage(e));

    Files.delete(dir.resolve("a.qcow2"));
    qemuImage("a.qcow2");
    LuksAmendOptions change =
        LuksAmendOptions.builder()
            .state(LuksAmendOptions.State.ACTIVE)
            .newSecret(bytes("sec1"))
            .build();
    e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                Qcow2Image.amend(
                    dir.resolve("a.qcow2"), AmendOptions.builder().keySlots(change).build()));
    assertEquals(ImageEncryption.NO_SECRET, ourMessage(e));
  }

  @Test
  void key_slots_change_together_with_the_version() throws Exception {
    qemuImage("q.qcow2");
    LuksAmendOptions change =
        LuksAmendOptions.builder()
            .state(LuksAmendOptions.State.ACTIVE)
            .keyslot(6)
            .newSecret(bytes("sec1"))
            .iterTimeMillis(10)
            .build();
    Qcow2Image.amend(
        dir.resolve("q.qcow2"),
        AmendOptions.builder().encryptionKey(bytes("sec0")).keySlots(change).version(2).build());
    assertTrue(change.newSecret() != null);
    change.destroy();
    assertEquals(null, change.newSecret());
    assertEquals(slots(0, 6), activeSlots("q.qcow2"));
    assertTrue(Qemu.img(dir, "info", "q.qcow2").contains("compat: 0.10"));
    assertContent("q.qcow2", "sec1");
  }
}
