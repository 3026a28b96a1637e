package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Internal snapshots: ours are listed, read and applied by qemu-img, qemu's are applied and deleted
 * by us, and random sequences of snapshot create/apply/delete mixed with writes keep {@code
 * qemu-img check} clean with every snapshot holding what it held when taken.
 */
class SnapshotTest {
  @TempDir Path dir;

  private static final OpenOptions WRITABLE = OpenOptions.builder().writable(true).build();

  @ParameterizedTest(name = "compat {0}")
  @ValueSource(strings = {"1.1", "0.10"})
  void ourSnapshotIsListedReadAndAppliedByQemu(String compat) throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "compat=" + compat, "a.qcow2", "4M");
    Qemu.io(dir, "a.qcow2", "write -P 1 0 1M", "write -c -P 2 2M 64k");
    byte[] before = raw("a.qcow2");
    try (Qcow2Image image = Qcow2Image.open(dir.resolve("a.qcow2"), WRITABLE)) {
      Snapshot s = image.createSnapshot("first");
      assertEquals("1", s.id());
      assertEquals("first", s.name());
      assertEquals(4L << 20, s.diskSize());
      image.write(ByteBuffer.wrap(new byte[] {9, 9, 9}), 100);
      image.writeZeroes(2L << 20, 65536);
      assertEquals("2", image.createSnapshot("second").id());
    }
    assertClean("a.qcow2");
    String list = Qemu.img(dir, "snapshot", "-l", "a.qcow2");
    assertTrue(list.contains("first") && list.contains("second"), list);
    Qemu.img(dir, "convert", "-l", "snapshot.name=first", "-O", "raw", "a.qcow2", "first.raw");
    assertArrayEquals(before, Files.readAllBytes(dir.resolve("first.raw")));
    Qemu.img(dir, "snapshot", "-a", "first", "a.qcow2");
    assertArrayEquals(before, raw("a.qcow2"));
    assertClean("a.qcow2");
    Qemu.img(dir, "snapshot", "-d", "second", "a.qcow2");
    Qemu.img(dir, "snapshot", "-d", "first", "a.qcow2");
    assertArrayEquals(before, raw("a.qcow2"));
    String check = Qemu.img(dir, "check", "a.qcow2");
    assertTrue(check.contains("No errors were found"), check);
  }

  @ParameterizedTest(name = "compat {0}")
  @ValueSource(strings = {"1.1", "0.10"})
  void qemuSnapshotIsAppliedAndDeletedByUs(String compat) throws Exception {
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "compat=" + compat, "a.qcow2", "4M");
    Qemu.io(dir, "a.qcow2", "write -P 1 0 1M");
    Qemu.img(dir, "snapshot", "-c", "s1", "a.qcow2");
    byte[] atS1 = raw("a.qcow2");
    Qemu.io(dir, "a.qcow2", "write -P 3 512k 1M", "discard 0 64k");
    byte[] later = raw("a.qcow2");
    Qemu.img(dir, "snapshot", "-c", "s2", "a.qcow2");
    try (Qcow2Image image = Qcow2Image.open(dir.resolve("a.qcow2"), WRITABLE)) {
      image.applySnapshot("s1");
    }
    assertClean("a.qcow2");
    assertArrayEquals(atS1, raw("a.qcow2"));
    try (Qcow2Image image = Qcow2Image.open(dir.resolve("a.qcow2"), WRITABLE)) {
      image.deleteSnapshot("1"); // by id
      assertEquals(1, image.snapshots().size());
      image.applySnapshot("s2");
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> image.deleteSnapshot("s1"));
      assertTrue(e.getMessage().endsWith("Can't find the snapshot 's1'"), e.getMessage());
    }
    assertClean("a.qcow2");
    assertArrayEquals(later, raw("a.qcow2"));
    try (Qcow2Image image = Qcow2Image.open(dir.resolve("a.qcow2"), WRITABLE)) {
      image.deleteSnapshot("s2");
    }
    assertClean("a.qcow2");
    assertEquals("", Qemu.img(dir, "snapshot", "-l", "a.qcow2"));
    assertArrayEquals(later, raw("a.qcow2"));
    // Everything the snapshots held alone is free again: nothing leaked, COPIED flags right.
    String check = Qemu.img(dir, "check", "a.qcow2");
    assertTrue(check.contains("No errors were found"), check);
  }

  static Stream<Long> seeds() {
    Long fixed = Long.getLong("qcow2.seed");
    if (fixed != null) {
      return Stream.of(fixed);
    }
    return LongStream.range(0, Integer.getInteger("qcow2.sequences", 24))
        .map(i -> 0x5851f42d4c957f2dL * (i + 7))
        .boxed();
  }

  /**
   * Random snapshot create/apply/delete mixed with writes, against a model of the disk and of each
   * snapshot.
   */
  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void randomSnapshotSequencesMatchTheModel(long seed) throws Exception {
    Random r = new Random(seed);
    String[] options = {
      "cluster_size=65536",
      "cluster_size=4096",
      "cluster_size=512",
      "extended_l2=on",
      "compat=0.10",
      "refcount_bits=2",
      "lazy_refcounts=on",
      "refcount_bits=64,cluster_size=16384"
    };
    String opts = options[r.nextInt(options.length)];
    long size = (1 + r.nextInt(4)) << 20;
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", opts, "a.qcow2", Long.toString(size));
    byte[] model = new byte[(int) size];
    Map<String, byte[]> snapshots = new LinkedHashMap<>();
    List<String> log = new ArrayList<>();
    int clusterSize;
    try (Qcow2Image image = Qcow2Image.open(dir.resolve("a.qcow2"), WRITABLE)) {
      clusterSize = image.clusterSize();
      int ops = 20 + r.nextInt(30);
      for (int i = 0; i < ops; i++) {
        int kind = r.nextInt(10);
        if (kind < 5) {
          long off = r.nextInt((int) size);
          int len = 1 + r.nextInt((int) Math.min(size - off, 3 * clusterSize + 100));
          byte[] data = new byte[len];
          Arrays.fill(data, (byte) (1 + r.nextInt(250)));
          image.write(ByteBuffer.wrap(data), off);
          System.arraycopy(data, 0, model, (int) off, len);
          log.add("write " + off + " " + len);
        } else if (kind == 5) {
          long off = r.nextInt((int) size);
          int len = 1 + r.nextInt((int) Math.min(size - off, 2 * clusterSize));
          image.writeZeroes(off, len);
          Arrays.fill(model, (int) off, (int) off + len, (byte) 0);
          log.add("zero " + off + " " + len);
        } else if (kind == 6) {
          String name = "s" + i;
          image.createSnapshot(name);
          snapshots.put(name, model.clone());
          log.add("create " + name);
        } else if (kind == 7 && !snapshots.isEmpty()) {
          String name = pick(r, snapshots);
          image.applySnapshot(name);
          model = snapshots.get(name).clone();
          log.add("apply " + name);
        } else if (kind == 8 && !snapshots.isEmpty()) {
          String name = pick(r, snapshots);
          image.deleteSnapshot(name);
          snapshots.remove(name);
          log.add("delete " + name);
        } else {
          byte[] got = new byte[model.length];
          image.readFully(ByteBuffer.wrap(got), 0);
          assertArrayEquals(model, got, "seed " + seed + " (" + opts + "): our read after " + log);
        }
      }
    } catch (ImageLimitException e) {
      // 1-bit refcounts cannot count a second reference; 2 bits may overflow with many snapshots.
      assertTrue(opts.contains("refcount_bits=2"), "seed " + seed + ": " + e);
      return;
    }
    String context = "seed " + seed + " (" + opts + "), ops " + log;
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", "a.qcow2"));
    assertEquals(0, check.exitCode(), context + "\n" + check.stdout() + check.stderr());
    assertArrayEquals(model, raw("a.qcow2"), context + ": active disk");
    for (Map.Entry<String, byte[]> e : snapshots.entrySet()) {
      Qemu.img(
          dir, "convert", "-l", "snapshot.name=" + e.getKey(), "-O", "raw", "a.qcow2", "snap.raw");
      assertArrayEquals(
          e.getValue(),
          Files.readAllBytes(dir.resolve("snap.raw")),
          context + ": snapshot " + e.getKey());
    }
  }

  private static String pick(Random r, Map<String, byte[]> snapshots) {
    List<String> names = new ArrayList<>(snapshots.keySet());
    return names.get(r.nextInt(names.size()));
  }

  /**
   * Each operation runs under the dirty bit (refcounts and COPIED flags cannot change in one write;
   * PowerCutTest cuts inside them), and leaves it clear once everything is durable.
   */
  @Test
  void snapshotOperationsLeaveTheDirtyBitClear() throws Exception {
    Path path = dir.resolve("d.qcow2");
    Qcow2Image.create(path, CreateOptions.builder(1L << 20).build()).close();
    try (Qcow2Image image = Qcow2Image.open(path, WRITABLE)) {
      image.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 0);
      image.createSnapshot("a");
      assertEquals(0, incompatibleFeatures(path));
      image.write(ByteBuffer.wrap(new byte[] {4}), 0);
      image.applySnapshot("a");
      assertEquals(0, incompatibleFeatures(path));
      image.deleteSnapshot("a");
      assertEquals(0, incompatibleFeatures(path));
    }
    assertClean("d.qcow2");
  }

  private static long incompatibleFeatures(Path path) throws IOException {
    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(path)) {
      ByteBuffer b = ByteBuffer.allocate(8);
      ch.read(b, 72);
      return b.getLong(0);
    }
  }

  /**
   * Found by PowerCutTest: the L2 cache was sized to the tables of the disk at the open; after a
   * resize that grew the L1 table and writes that dirtied every table, the snapshot's COPIED update
   * went to a table the cache no longer held (NullPointerException in writeBack).
   */
  @Test
  void snapshotAfterAResizeThatGrowsTheL1TableKeepsEveryTable() throws Exception {
    Path path = dir.resolve("g.qcow2");
    Qcow2Image.create(path, CreateOptions.builder(4L << 20).clusterSize(4096).build()).close();
    byte[] model = new byte[5213184];
    Random r = new Random(17);
    try (Qcow2Image image = Qcow2Image.open(path, WRITABLE)) {
      assertEquals(2, image.l2Cache().capacity());
      image.resize(5213184);
      assertEquals(3, image.l2Cache().capacity(), "the cache grows with the L1 table");
      for (long[] w : new long[][] {{2982524, 183486}, {2058724, 498}, {4525426, 54}}) {
        byte[] data = new byte[(int) w[1]];
        r.nextBytes(data);
        image.write(ByteBuffer.wrap(data), w[0]);
        System.arraycopy(data, 0, model, (int) w[0], data.length);
      }
      image.createSnapshot("after-resize");
    }
    assertClean("g.qcow2");
    assertArrayEquals(model, raw("g.qcow2"));
    Qemu.img(
        dir, "convert", "-l", "snapshot.name=after-resize", "-O", "raw", "g.qcow2", "snap.raw");
    assertArrayEquals(model, Files.readAllBytes(dir.resolve("snap.raw")));
  }

  private byte[] raw(String image) throws IOException {
    Path out = Qemu.toRaw(dir, image, "view.raw");
    byte[] b = Files.readAllBytes(out);
    Files.delete(out);
    return b;
  }

  private void assertClean(String image) {
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", image));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
  }
}
