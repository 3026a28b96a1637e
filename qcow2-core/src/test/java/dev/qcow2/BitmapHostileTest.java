package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrowsExactly;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile bitmap structures, one method per defect: a bitmap made by qemu, then the few bytes the
 * case needs changed at spec offsets. Each is refused with the exact exception naming the image,
 * the structure and the offset, without changing the file.
 */
@Timeout(value = 1, unit = TimeUnit.MINUTES)
class BitmapHostileTest {
  @TempDir Path dir;
  Path img;

  /** Where the bitmaps extension's data, the directory and the first entry's table lie. */
  long ext;

  long directory;
  long table;

  @BeforeEach
  void bitmapImage() throws IOException {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "img.qcow2", "16M");
    Qemu.img(dir, "bitmap", "--add", "img.qcow2", "b1");
    Qemu.io(dir, "img.qcow2", "write -P 1 0 64k");
    img = dir.resolve("img.qcow2");
    locate();
  }

  private void locate() throws IOException {
    long at = Poke.readU32(img, 100);
    while (Poke.readU32(img, at) != 0x23852875L) {
      at += 8 + ((Poke.readU32(img, at + 4) + 7) & ~7L);
    }
    ext = at + 8;
    directory = Poke.readU64(img, ext + 16);
    table = Poke.readU64(img, directory);
  }

  @Test
  void granularityBelowQemusLimit() throws IOException {
    Poke.u8(img, directory + 17, 8);
    assertRefused(Structure.BITMAP_DIRECTORY, directory, this::open);
  }

  @Test
  void granularityAboveQemusLimit() throws IOException {
    Poke.u8(img, directory + 17, 32);
    assertRefused(Structure.BITMAP_DIRECTORY, directory, this::open);
  }

  @Test
  void nameOver1023Bytes() throws IOException {
    Poke.u64(img, ext + 8, 24 + 1024); // the directory grows into its cluster to hold it
    Poke.u16(img, directory + 18, 1024);
    Poke.bytes(img, directory + 24, "x".repeat(1024).getBytes());
    assertRefused(Structure.BITMAP_DIRECTORY, directory, this::open);
  }

  @Test
  void moreBitmapsThanQemuAllows() throws IOException {
    Poke.u32(img, ext, 65536);
    assertRefused(Structure.BITMAP_DIRECTORY, ext - 8, this::open);
  }

  @Test
  void bitmapTableOverlapsTheL1Table() throws IOException {
    long l1 = Poke.readU64(img, 0x28);
    Poke.u64(img, directory, l1);
    assertRefused(Structure.BITMAP_TABLE, l1, this::open);
  }

  @Test
  void directoryOverlapsTheRefcountTable() throws IOException {
    long refcountTable = Poke.readU64(img, 0x30);
    Poke.u64(img, ext + 16, refcountTable);
    assertRefused(Structure.BITMAP_DIRECTORY, refcountTable, this::open);
  }

  @Test
  void tableEntryWithReservedBits() throws IOException {
    Poke.u64(img, table, Poke.readU64(img, table) | 0x2);
    assertRefused(
        Structure.BITMAP_TABLE,
        table,
        () -> {
          try (Qcow2Image i = Qcow2Image.open(img)) {
            i.dirtyBitmaps().dirtyExtents("b1");
          }
        });
  }

  @Test
  void tableEntryPastTheEndOfTheFile() throws IOException {
    Poke.u64(img, table, Files.size(img) + (1L << 30));
    assertRefused(
        Structure.BITMAP_TABLE,
        table,
        () -> {
          try (Qcow2Image i = Qcow2Image.open(img, BitmapTest.writable())) {
            i.write(java.nio.ByteBuffer.wrap(new byte[512]), 0);
            i.dirtyBitmaps().dirtyExtents("b1");
          }
        });
  }

  @Test
  void tableTooSmallForTheDisk() throws IOException {
    Qemu.img(dir, "bitmap", "--add", "-g", "512", "img.qcow2", "fine");
    Qemu.img(dir, "resize", "img.qcow2", "+1G"); // qemu resizes the bitmaps too: 5 clusters
    locate();
    long second = directory + ((24 + 2 + 7) & ~7);
    Poke.u32(img, second + 8, 4);
    assertRefused(Structure.BITMAP_DIRECTORY, second, this::open);
  }

  private void open() throws IOException {
    Qcow2Image.open(img).close();
  }

  private void assertRefused(Structure structure, long offset, Executable action)
      throws IOException {
    byte[] before = Files.readAllBytes(img);
    CorruptImageException e = assertThrowsExactly(CorruptImageException.class, action);
    assertEquals(structure, e.structure(), e.getMessage());
    assertEquals(offset, e.offset(), e.getMessage());
    assertTrue(e.getMessage().contains("img.qcow2"), e.getMessage());
    if (!Arrays.equals(before, Files.readAllBytes(img))) {
      // Only a writable open may change the file, and only to flag the bitmaps in use.
      assertEquals(1, Poke.readU32(img, directory + 12) & 1, e.getMessage());
    }
  }
}
