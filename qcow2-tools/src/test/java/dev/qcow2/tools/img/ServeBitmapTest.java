package dev.qcow2.tools.img;

import static dev.qcow2.tools.img.ServeFixture.freePort;
import static dev.qcow2.tools.img.ServeFixture.stopBySignal;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

/**
 * {@code qcow2 serve -B NAME}: a persistent dirty bitmap as the {@code qemu:dirty-bitmap:NAME}
 * metadata context, checked against qemu-nbd serving a copy of the same image: nbdinfo's maps and
 * context lists are equal, writes through the server mark an enabled bitmap in both, and the
 * bitmaps qemu-nbd refuses are refused in its words.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ServeBitmapTest {
  @TempDir Path dir;

  private ServeFixture serve;

  @BeforeEach
  void fixture() {
    serve = new ServeFixture(dir);
  }

  private String path(String name) {
    return dir.resolve(name).toString();
  }

  /**
   * An 8 MiB image with bitmap b0 (64 KiB granules) and b1 (512 KiB) that qemu-io's writes marked,
   * and a copy of it for qemu-nbd.
   */
  private void image(String name) throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", path(name), "8M");
    Qemu.img(dir, "bitmap", "--add", path(name), "b0");
    Qemu.img(dir, "bitmap", "--add", "-g", "512k", path(name), "b1");
    Qemu.io(dir, path(name), "write 64k 64k", "write 1M 4k", "write 3000k 1k", "write 7M 1M");
    Files.copy(dir.resolve(name), dir.resolve("ref-" + name));
  }

  /** The "contexts:" lines of nbdinfo --list. */
  private String contexts(String uri) throws Exception {
    StringBuilder b = new StringBuilder();
    boolean in = false;
    for (String line : serve.ok("nbdinfo", "--list", uri).split("\n")) {
      if (line.strip().equals("contexts:")) {
        in = true;
      } else if (in && line.startsWith("\t\t")) {
        b.append(line.strip()).append('\n');
      } else {
        in = false;
      }
    }
    return b.toString();
  }

  @Test
  void maps_and_context_lists_equal_qemu_nbds_before_and_after_writes() throws Exception {
    image("a.qcow2");
    int port = freePort();
    String uri = "nbd://127.0.0.1:" + port + "/";
    Process server = serve.servePersistent(port, "-A", "-B", "b0", "--bitmap=b1", path("a.qcow2"));
    try (ServeFixture.QemuNbd ref =
        serve.qemuNbd("-A", "-B", "b0", "-B", "b1", path("ref-a.qcow2"))) {
      assertEquals(contexts(ref.uri()), contexts(uri));
      assertTrue(contexts(uri).contains("qemu:dirty-bitmap:b0\n"), contexts(uri));
      for (String bitmap : List.of("b0", "b1")) {
        String map = serve.ok("nbdinfo", "--map=qemu:dirty-bitmap:" + bitmap, uri);
        assertEquals(serve.ok("nbdinfo", "--map=qemu:dirty-bitmap:" + bitmap, ref.uri()), map);
        assertTrue(map.contains("dirty") && map.contains("clean"), map);
      }
      for (String u : List.of(uri, ref.uri())) {
        serve.ok("qemu-io", "-f", "raw", "-c", "write -P 7 5M 4k", "-c", "write -z 6M 8k", u);
      }
      String map = serve.ok("nbdinfo", "--map=qemu:dirty-bitmap:b0", uri);
      assertEquals(serve.ok("nbdinfo", "--map=qemu:dirty-bitmap:b0", ref.uri()), map);
      assertTrue(map.contains("  5242880       65536    1  dirty"), map);
      assertEquals(
          serve.ok("nbdinfo", "--map=qemu:allocation-depth", ref.uri()),
          serve.ok("nbdinfo", "--map=qemu:allocation-depth", uri));
    } finally {
      stopBySignal(server);
    }
    String check = Qemu.img(dir, "check", path("a.qcow2"));
    assertTrue(check.contains("No errors were found on the image."), check);
    // What our server stored at close is what qemu-nbd stored: qemu-nbd reads both back alike.
    try (ServeFixture.QemuNbd mine = serve.qemuNbd("-r", "-B", "b0", path("a.qcow2"));
        ServeFixture.QemuNbd theirs = serve.qemuNbd("-r", "-B", "b0", path("ref-a.qcow2"))) {
      assertEquals(
          serve.ok("nbdinfo", "--map=qemu:dirty-bitmap:b0", theirs.uri()),
          serve.ok("nbdinfo", "--map=qemu:dirty-bitmap:b0", mine.uri()));
    }
    String compare = Qemu.img(dir, "compare", path("a.qcow2"), path("ref-a.qcow2"));
    assertTrue(compare.contains("Images are identical."), compare);
  }

  @Test
  void a_read_only_export_and_a_bitmap_of_the_backing_file_are_served_as_qemu_nbd_serves_them()
      throws Exception {
    image("base.qcow2");
    for (String prefix : List.of("", "ref-")) {
      Qemu.img(
          dir,
          "create",
          "-q",
          "-f",
          "qcow2",
          "-b",
          path(prefix + "base.qcow2"),
          "-F",
          "qcow2",
          path(prefix + "top.qcow2"));
    }
    int port = freePort();
    String uri = "nbd://127.0.0.1:" + port + "/";
    Process server = serve.servePersistent(port, "-r", "-B", "b1", path("top.qcow2"));
    try (ServeFixture.QemuNbd ref = serve.qemuNbd("-r", "-B", "b1", path("ref-top.qcow2"))) {
      assertEquals(
          serve.ok("nbdinfo", "--map=qemu:dirty-bitmap:b1", ref.uri()),
          serve.ok("nbdinfo", "--map=qemu:dirty-bitmap:b1", uri));
      assertEquals(contexts(ref.uri()), contexts(uri));
    } finally {
      stopBySignal(server);
    }
  }

  @Test
  void a_missing_or_inconsistent_bitmap_is_refused_in_qemu_nbds_words() throws Exception {
    image("a.qcow2");
    assertSameRefusal("Bitmap 'nope' is not found", "-B", "nope", path("a.qcow2"));
    assertSameRefusal("Bitmap '' is not found", "-B", "b0", "-B", "", path("a.qcow2"));
    // qemu-io killed by its own abort command leaves the bitmaps flagged in use.
    Qemu.Result aborted =
        Qemu.exec(dir, List.of("qemu-io", "-c", "write 0 4k", "-c", "abort", path("a.qcow2")));
    assertTrue(aborted.exitCode() != 0, aborted.stderr());
    assertTrue(Qemu.img(dir, "info", path("a.qcow2")).contains("in-use"));
    assertSameRefusal(
        "Bitmap 'b0' is inconsistent and cannot be used", "-B", "b0", path("a.qcow2"));
    assertSameRefusal(
        "Bitmap 'b1' is inconsistent and cannot be used", "-r", "-B", "b1", path("a.qcow2"));
  }

  /** Both servers refuse {@code args} at start with {@code message}, and exit 1. */
  private void assertSameRefusal(String message, String... args) throws Exception {
    List<String> all = new ArrayList<>(List.of("qcow2", "serve", "-p", "" + freePort()));
    all.addAll(List.of(args));
    Cli.Result r = Cli.run(all.toArray(String[]::new));
    assertEquals(1, r.exitCode(), r.stderr());
    assertEquals("qcow2: " + message + "\n", r.stderr());
    List<String> q = new ArrayList<>(List.of("qemu-nbd", "-b", "127.0.0.1", "-p", "" + freePort()));
    q.addAll(List.of(args));
    Qemu.Result ref = Qemu.exec(dir, q);
    assertEquals(1, ref.exitCode(), ref.stderr());
    assertEquals("qemu-nbd: " + message + "\n", ref.stderr());
  }
}
