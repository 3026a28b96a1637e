package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.LuksQemu;
import dev.qcow2.testing.Qemu;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * LUKS-encrypted images in a test's folder, made, written and checked by qemu under the secret
 * {@link #SECRET} (id sec0), and named by qemu's {@code --image-opts} strings.
 */
final class LuksImages {
  static final String SECRET = "secret,id=sec0,data=abc";

  private final Path dir;

  LuksImages(Path dir) {
    this.dir = dir;
  }

  String path(String name) {
    return dir.resolve(name).toString();
  }

  /** The {@code --image-opts} string of encrypted image {@code name}. */
  String opts(String name) {
    return "driver=qcow2,file.filename=" + path(name) + ",encrypt.key-secret=sec0";
  }

  /** qemu-img create of an encrypted image of {@code size}, then qemu-io's {@code writes}. */
  void create(String name, String size, String... writes) {
    LuksQemu.create(
        dir,
        "-q",
        "-f",
        "qcow2",
        "--object",
        SECRET,
        "-o",
        "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10",
        path(name),
        size);
    io(name, writes);
  }

  /** qemu-io's {@code commands} on encrypted image {@code name}; returns what it printed. */
  String io(String name, String... commands) {
    List<String> cmd =
        new ArrayList<>(List.of("qemu-io", "--object", SECRET, "--image-opts", opts(name)));
    for (String c : commands) {
      cmd.add("-c");
      cmd.add(c);
    }
    String out = Qemu.run(dir, cmd.toArray(String[]::new));
    assertTrue(!out.contains("failed") && !out.contains("Pattern verification"), out);
    return out;
  }

  /** qemu-img's decryption of {@code name} into a new image {@code target} of {@code format}. */
  void decrypt(String name, String format, String target) {
    Qemu.img(
        dir, "convert", "--object", SECRET, "--image-opts", opts(name), "-O", format, path(target));
  }

  /** qemu-img check of encrypted image {@code name} finds nothing wrong. */
  void assertClean(String name) {
    String check = Qemu.img(dir, "check", "--object", SECRET, "--image-opts", opts(name));
    assertTrue(check.contains("No errors were found on the image."), check);
  }

  /**
   * qemu-img compare finds encrypted image {@code name} identical to the image {@code other} names
   * in {@code --image-opts} form.
   */
  void assertIdentical(String name, String other) {
    String compare =
        Qemu.img(dir, "compare", "--object", SECRET, "--image-opts", opts(name), other);
    assertTrue(compare.contains("Images are identical."), compare);
  }
}
