package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Filling small-cluster images with wide refcounts makes the refcount table outgrow its cluster
 * several times: new blocks must count themselves, and each larger table must be written with the
 * blocks that describe it before the header moves to it.
 */
class RefcountGrowthTest {

  @ParameterizedTest(name = "cluster={0} refcount_bits={1}")
  @CsvSource({"512, 64", "512, 16", "512, 32", "1024, 64", "512, 1", "4096, 64"})
  void tableGrowsAndStaysConsistent(int clusterSize, int refcountBits, @TempDir Path dir)
      throws IOException {
    long size = 12L << 20;
    Path path = dir.resolve("g.qcow2");
    long tableBefore;
    Random r = new Random(clusterSize * 131L + refcountBits);
    byte[] model = new byte[(int) size];
    try (Qcow2Image img =
        Qcow2Image.create(
            path,
            CreateOptions.builder(size)
                .clusterSize(clusterSize)
                .refcountBits(refcountBits)
                .build())) {
      tableBefore = img.header().refcountTableOffset();
      List<Long> chunks = new ArrayList<>();
      for (long at = 0; at < size; at += 64 << 10) {
        chunks.add(at);
      }
      Collections.shuffle(chunks, r);
      for (long at : chunks) {
        byte[] b = new byte[64 << 10];
        r.nextBytes(b);
        System.arraycopy(b, 0, model, (int) at, b.length);
        img.write(ByteBuffer.wrap(b), at);
        if (r.nextInt(8) == 0) {
          img.flush();
        }
      }
    }
    // One table cluster covers (cs / 8) blocks of (cs * 8 / bits) clusters of cs bytes.
    long covered = (long) (clusterSize / 8) * (clusterSize * 8L / refcountBits) * clusterSize;
    if (covered < size) {
      assertTrue(Poke.readU64(path, 48) != tableBefore, "the refcount table moved");
    }
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "g.qcow2"));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    assertTrue(check.stdout().contains("No errors were found"), check.stdout());
    byte[] raw = Files.readAllBytes(Qemu.toRaw(dir, "g.qcow2", "g.raw"));
    assertEquals(-1, java.util.Arrays.mismatch(model, raw), "content");
  }
}
