package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrowsExactly;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * snapshots_offset with nb_snapshots = 0: qemu's qcow2_do_open validates the offset whatever the
 * count, so a misaligned one (or one past 2^63) makes the image unopenable; an aligned one, even
 * pointing nowhere useful, is harmless. Each case is checked against qemu-img first, so the test
 * proves we agree with qemu, not only with ourselves.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SnapshotTableOffsetTest {
  @TempDir Path dir;

  private Path image(long snapshotsOffset) throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "cluster_size=65536", "img.qcow2", "4M");
    Qemu.io(dir, "img.qcow2", "write -P 0x11 0 64k");
    Path img = dir.resolve("img.qcow2");
    assertEquals(0, Poke.readU32(img, 60), "nb_snapshots");
    Poke.u64(img, 64, snapshotsOffset);
    return img;
  }

  @ParameterizedTest(name = "snapshots_offset {0}")
  @ValueSource(longs = {0x10200L, 8, 0x10000L + 512, 0x8000000000000000L, -65536L})
  void misalignedOrHugeOffsetIsRefusedAsQemuRefusesIt(long offset) throws IOException {
    Path img = image(offset);
    Qemu.Result qemu = Qemu.exec(dir, List.of("qemu-img", "info", "img.qcow2"));
    assertEquals(1, qemu.exitCode(), qemu.stdout());
    assertEquals(
        "qemu-img: Could not open 'img.qcow2': Snapshot table offset invalid\n", qemu.stderr());

    byte[] before = Files.readAllBytes(img);
    for (boolean writable : new boolean[] {false, true}) {
      CorruptImageException e =
          assertThrowsExactly(
              CorruptImageException.class,
              () -> Qcow2Image.open(img, OpenOptions.builder().writable(writable).build()).close());
      assertEquals(Structure.SNAPSHOT_TABLE, e.structure());
      assertEquals(64, e.offset(), "the snapshots_offset field");
      assertTrue(e.image().endsWith("img.qcow2"), e.image());
      assertTrue(
          e.getMessage().contains("snapshot table offset invalid: 0x" + Long.toHexString(offset)),
          e.getMessage());
    }
    assertArrayEquals(before, Files.readAllBytes(img), "the image is left as it was");
  }

  /** The control: an aligned offset with no snapshots opens in qemu and here, and reads alike. */
  @ParameterizedTest(name = "snapshots_offset {0}")
  @ValueSource(longs = {0, 0x10000L, 0x7fff0000L})
  void alignedOffsetWithoutSnapshotsOpensAsInQemu(long offset) throws IOException {
    Path img = image(offset);
    Qemu.img(dir, "convert", "-O", "raw", "img.qcow2", "expected.raw");
    byte[] expected = Files.readAllBytes(dir.resolve("expected.raw"));
    try (Qcow2Image image = Qcow2Image.open(img)) {
      assertEquals(List.of(), image.snapshots());
      ByteBuffer all = ByteBuffer.allocate(expected.length);
      image.readFully(all, 0);
      assertArrayEquals(expected, all.array());
    }
  }
}
