package dev.qcow2.tools.img;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import dev.qcow2.tools.Cli;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code qcow2 check} prints what qemu-img check prints (stdout and the first of its stderr lines)
 * and exits as it does, on clean, leaking and corrupt images, with and without -r. Each side works
 * on its own copy of the same image.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class CheckCommandTest {
  @TempDir Path dir;

  /** A clean image, or one with a leaked cluster, or one with a lost refcount. */
  private String image(String kind) throws IOException {
    String name = Recipes.mixed(dir, "1.1", 65536);
    Path path = dir.resolve(name);
    long refBlock = Poke.readU64(path, Poke.readU64(path, 48));
    if (kind.startsWith("leak")) {
      long next = (Files.size(path) + 65535) / 65536;
      Poke.bytes(path, next * 65536, new byte[65536]);
      Poke.u16(path, refBlock + 2 * next, 1);
    } else if (kind.startsWith("corrupt")) {
      Poke.u16(path, refBlock + 2 * 5, 0);
    }
    return name;
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "clean",
        "leak",
        "leak -r leaks",
        "leak -r all",
        "corrupt",
        "corrupt -r all",
        "clean json",
        "leak json",
        "leak -r leaks json",
        "corrupt json",
        "corrupt -r all json"
      })
  void should_report_and_repair_as_qemu_img_does(String kind) throws IOException {
    String name = image(kind);
    Path ours = dir.resolve("ours.qcow2");
    Path theirs = dir.resolve("theirs.qcow2");
    Files.copy(dir.resolve(name), ours);
    Files.copy(dir.resolve(name), theirs);
    List<String> options = new ArrayList<>();
    if (kind.contains("-r leaks")) {
      options.addAll(List.of("-r", "leaks"));
    } else if (kind.contains("-r all")) {
      options.addAll(List.of("-r", "all"));
    }
    boolean repairs = !options.isEmpty();
    if (kind.endsWith("json")) {
      options.add("--output=json");
    }
    List<String> ourArgs = new ArrayList<>(List.of("qcow2", "check"));
    ourArgs.addAll(options);
    ourArgs.add(ours.toString());
    Cli.Result r = Cli.run(ourArgs.toArray(new String[0]));
    List<String> qemuArgs = new ArrayList<>(List.of("qemu-img", "check"));
    qemuArgs.addAll(options);
    qemuArgs.add(theirs.toString());
    Qemu.Result q = Qemu.exec(dir, qemuArgs);
    assertEquals(
        q.exitCode(),
        r.exitCode(),
        q.stdout() + q.stderr() + "\n--- ours\n" + r.stdout() + r.stderr());
    String expected = q.stdout().replace(theirs.toString(), ours.toString());
    String actual = r.stdout();
    if (kind.contains("corrupt -r all")) {
      // qemu rebuilds the refcount structures into the first free clusters, we after the last
      // used one: the image end offset may differ by a cluster or two.
      expected = expected.replaceAll("(Image end offset: |\"image-end-offset\": )\\d+", "$1N");
      actual = actual.replaceAll("(Image end offset: |\"image-end-offset\": )\\d+", "$1N");
    }
    assertEquals(expected, actual);
    String firstTheirs = q.stderr().isEmpty() ? "" : q.stderr().lines().findFirst().orElse("");
    String firstOurs = r.stderr().isEmpty() ? "" : r.stderr().lines().findFirst().orElse("");
    assertEquals(firstTheirs, firstOurs);
    if (repairs) {
      Qemu.Result after = Qemu.exec(dir, List.of("qemu-img", "check", ours.toString()));
      assertEquals(
          0, after.exitCode(), "qemu finds our repair clean: " + after.stdout() + after.stderr());
    }
  }
}
