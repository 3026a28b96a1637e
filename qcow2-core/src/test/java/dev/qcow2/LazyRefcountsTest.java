package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * With lazy refcounts the dirty bit is set while writing and refcounts reach the file only at
 * close; an image left dirty (a crash, simulated by copying the file before close) is repaired by
 * the next writable open: its refcounts are rebuilt from the tables, and qemu-img check then finds
 * nothing.
 */
class LazyRefcountsTest {

  @Test
  void dirtyWhileWritingCleanAfterClose(@TempDir Path dir) throws IOException {
    Path path = dir.resolve("lazy.qcow2");
    try (Qcow2Image img =
        Qcow2Image.create(path, CreateOptions.builder(8L << 20).lazyRefcounts(true).build())) {
      assertEquals(0, Poke.readU64(path, 72) & 1, "clean before the first write");
      img.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 100_000);
      assertEquals(1, Poke.readU64(path, 72) & 1, "dirty while writing");
    }
    assertEquals(0, Poke.readU64(path, 72) & 1, "clean after close");
    assertClean(dir, "lazy.qcow2");
  }

  @Test
  void crashedLazyImageIsRepairedOnWritableOpen(@TempDir Path dir) throws IOException {
    Path path = dir.resolve("lazy.qcow2");
    Path crashed = dir.resolve("crashed.qcow2");
    Random r = new Random(7);
    byte[] model = new byte[16 << 20];
    try (Qcow2Image img =
        Qcow2Image.create(
            path,
            CreateOptions.builder(model.length).clusterSize(4096).lazyRefcounts(true).build())) {
      for (int i = 0; i < 300; i++) {
        int at = r.nextInt(model.length - 70_000);
        byte[] b = new byte[1 + r.nextInt(70_000)];
        Arrays.fill(b, (byte) (1 + r.nextInt(255)));
        img.write(ByteBuffer.wrap(b), at);
        System.arraycopy(b, 0, model, at, b.length);
        if (i % 50 == 49) {
          img.discard(r.nextInt(model.length / 4096) * 4096L, 4096 * 8);
          Arrays.fill(model, 0, 0, (byte) 0);
        }
      }
      img.flush();
      // What a crash now would leave: tables on disk, refcounts not, the dirty bit set.
      Files.copy(path, crashed);
      ByteBuffer all = ByteBuffer.allocate(model.length);
      img.readFully(all, 0);
      model = all.array();
    }
    assertEquals(1, Poke.readU64(crashed, 72) & 1, "the crashed copy is dirty");
    // Its refcounts really are stale: qemu-img check (which does not repair) finds errors.
    Files.copy(crashed, dir.resolve("probe.qcow2"));
    Qemu.Result probe = Qemu.exec(dir, List.of("qemu-img", "check", "probe.qcow2"));
    assertEquals(2, probe.exitCode(), probe.stdout() + probe.stderr());
    try (Qcow2Image img = Qcow2Image.open(crashed, OpenOptions.builder().writable(true).build())) {
      assertEquals(0, Poke.readU64(crashed, 72) & 1, "repaired on open");
      img.write(ByteBuffer.wrap(new byte[] {9}), 0);
      model[0] = 9;
    }
    assertClean(dir, "crashed.qcow2");
    byte[] raw = Files.readAllBytes(Qemu.toRaw(dir, "crashed.qcow2", "crashed.raw"));
    assertEquals(-1, Arrays.mismatch(model, raw), "content survives the repair");
  }

  static void assertClean(Path dir, String image) {
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", image));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    assertTrue(check.stdout().contains("No errors were found"), check.stdout());
  }
}
