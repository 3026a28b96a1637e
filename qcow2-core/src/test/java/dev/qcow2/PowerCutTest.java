package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Durability under power loss, which {@link CrashTest}'s SIGKILL cannot show (the kernel keeps what
 * a killed process wrote): the image file, and its external data file if any, are {@link
 * PowerCutStorage}s, and {@link CrashWriter}'s random writes, zero writes, discards and compressed
 * writes, with snapshots taken, applied and deleted and the disk resized between them, run on them.
 * A power cut is taken after every Nth write and at every force before it completes; each loses the
 * writes since the last force (all, sectors at random, or in order up to one torn at a sector
 * boundary; see {@link PowerCutStorage.Loss}). After each cut the durable bytes, written to files,
 * must pass {@code qemu-img check} with at worst leaks (a dirty image, only with lazy refcounts or
 * inside a snapshot operation, is first repaired by a writable open, as qemu does, and qemu's
 * repair is checked too), and read as {@link FlushModel} says: every byte written before the last
 * completed {@link Qcow2Image#flush()} (or close), and every snapshot there at that flush. A close
 * and a new open come now and then.
 *
 * <p>Each seed stands for one of ten configurations (cluster sizes 512 B to 2 MiB, refcount widths
 * 1 to 64 bits, extended L2, compat 0.10, lazy refcounts, external data files, raw or not,
 * persistent bitmaps), the rest drawn at random. With bitmaps, a cut between the first change and
 * the end of a close finds them flagged in use (or, inside the in-place flagging, not vouched for
 * at all), and a bitmap not in use marks every range written before the last close. {@code
 * -Dqcow2.seed=S} replays one seed, {@code -Dqcow2.powercuts=N} sets the number of sequences,
 * {@code -Dqcow2.keep=DIR} keeps the files of a failed cut.
 */
class PowerCutTest {
  static final int SEQUENCES = Integer.getInteger("qcow2.powercuts", 18);
  static final int KINDS = 10;

  static Stream<Long> seeds() {
    return seeds(SEQUENCES, 1);
  }

  /** Longer sequences (CI): every configuration twice more, about three minutes on two cores. */
  static Stream<Long> slowSeeds() {
    return seeds(2 * KINDS, 1000);
  }

  /** The low four bits of a seed pick its configuration, so that every one is covered in turn. */
  private static Stream<Long> seeds(int count, int from) {
    Long fixed = Long.getLong("qcow2.seed");
    if (fixed != null) {
      return Stream.of(fixed);
    }
    return LongStream.range(from, from + count)
        .map(i -> (0x9e3779b97f4a7c15L * i) << 4 | (i % KINDS))
        .boxed();
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  @Timeout(value = 3, unit = TimeUnit.MINUTES)
  void flushedWritesSurvivePowerCuts(long seed, @TempDir Path dir) throws Exception {
    replayable(seed, dir, 30);
  }

  @Tag("slow")
  @ParameterizedTest(name = "seed {0}")
  @MethodSource("slowSeeds")
  @Timeout(value = 10, unit = TimeUnit.MINUTES)
  void flushedWritesSurviveLongerSequencesOfPowerCuts(long seed, @TempDir Path dir)
      throws Exception {
    replayable(seed, dir, 150);
  }

  private static void replayable(long seed, Path dir, int operations) throws Exception {
    Setup setup = setup(seed);
    try {
      new Run(setup, seed, dir, operations).run();
    } catch (AssertionError | Exception e) {
      String keep = System.getProperty("qcow2.keep");
      if (keep != null) {
        Path to = Files.createDirectories(Path.of(keep, Long.toString(seed)));
        try (Stream<Path> files = Files.list(dir.resolve("cut"))) {
          for (Path f : files.toList()) {
            Files.copy(f, to.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
          }
        }
      }
      throw new AssertionError(
          "seed "
              + seed
              + " (replay with -Dqcow2.seed="
              + seed
              + "), "
              + setup.text()
              + ": "
              + e.getMessage(),
          e);
    }
  }

  /** The create options a seed stands for. */
  record Setup(CreateOptions options, String text) {
    boolean bitmaps() {
      return text.endsWith("with bitmaps");
    }
  }

  static Setup setup(long seed) {
    int kind = (int) ((seed & 15) % KINDS);
    Random r = new Random(seed);
    int version = kind == 5 ? 2 : 3;
    int clusterSize =
        switch (kind) {
          case 1 -> 512;
          case 2 -> 4096;
          case 3 -> 2 << 20;
          case 4 -> r.nextBoolean() ? 16384 : 65536;
          case 0, 6 -> 65536;
          default -> new int[] {512, 4096, 65536}[r.nextInt(3)];
        };
    int bits =
        switch (kind) {
          case 1 -> r.nextBoolean() ? 32 : 64; // the refcount table grows while writing
          case 2 -> new int[] {1, 2, 4}[r.nextInt(3)];
          case 5 -> 16;
          default -> new int[] {1, 2, 4, 8, 16, 32, 64}[r.nextInt(7)];
        };
    boolean lazy = kind == 6 || (version == 3 && r.nextInt(4) == 0);
    CreateOptions.Builder b =
        CreateOptions.builder(clusterSize == (2 << 20) ? 8L << 20 : 4L << 20)
            .version(version)
            .clusterSize(clusterSize)
            .refcountBits(bits)
            .extendedL2(kind == 4)
            .lazyRefcounts(lazy)
            .compressionType(
                version == 3 && r.nextBoolean() ? CompressionType.ZSTD : CompressionType.ZLIB);
    if (kind == 7 || kind == 8) {
      b.dataFile("img.data", kind == 8);
    }
    CreateOptions o = b.build();
    if (kind == 9) {
      return new Setup(o, o + ", with bitmaps");
    }
    return new Setup(
        o,
        o
            + (o.dataFile() == null
                ? ""
                : ", data file " + o.dataFile() + (o.dataFileRaw() ? " (raw)" : "")));
  }

  /** One sequence: the image, the model, and the cuts. */
  private static final class Run implements PowerCutStorage.Observer {
    private final Setup setup;
    private final CreateOptions o;
    private final Path dir;
    private final Path cutDir;
    private final int operations;
    private final Random r;

    /** Draws the cuts' losses, apart from the operations so that both replay alike. */
    private final Random cutRandom;

    private final int every;
    private final PowerCutStorage image;
    private final PowerCutStorage data;
    private final FlushModel model;
    private final List<String> done = new ArrayList<>();
    private final Set<String> seen = new HashSet<>();
    private int flushes;
    private int writes;
    private int cuts;
    private boolean cutting = true;

    /** A snapshot is being made, applied or deleted (see {@link #assertNoCorruption}). */
    private boolean inSnapshotOperation;

    Run(Setup setup, long seed, Path dir, int operations) throws IOException {
      this.setup = setup;
      this.o = setup.options();
      this.dir = dir;
      this.cutDir = Files.createDirectories(dir.resolve("cut"));
      this.operations = operations;
      this.r = new Random(seed ^ 0x5deece66dL);
      this.cutRandom = new Random(seed * 31 + 7);
      // 512-byte clusters write several tables per guest cluster: cut among their writes less
      // often.
      this.every = (3 + r.nextInt(6)) * (o.clusterSize() == 512 ? 4 : 1);
      try (Qcow2Image img = Qcow2Image.create(dir.resolve("img.qcow2"), o)) {
        if (setup.bitmaps()) {
          img.dirtyBitmaps().add("on", 65536, true);
          img.dirtyBitmaps().add("off", 4096, false);
        }
      }
      this.image =
          new PowerCutStorage("img.qcow2", Files.readAllBytes(dir.resolve("img.qcow2")), this);
      this.data =
          o.dataFile() == null
              ? null
              : new PowerCutStorage(
                  o.dataFile(), Files.readAllBytes(dir.resolve(o.dataFile())), this);
      byte[] initial;
      try (Qcow2Image img = Qcow2Image.open(dir.resolve("img.qcow2"))) {
        initial = readAll(img);
      }
      this.model = new FlushModel(initial);
      this.atLastClose = initial.clone();
    }

    private Qcow2Image reopen(Qcow2Image img) throws IOException {
      closing = true;
      img.close();
      closed();
      done.add("close");
      flushed();
      return open();
    }

    private Qcow2Image open() throws IOException {
      OpenOptions options =
          OpenOptions.builder().writable(true).dataFileOpener((path, writable) -> data).build();
      return Qcow2Image.open(dir.resolve("img.qcow2"), image, options);
    }

    void run() throws IOException {
      Qcow2Image img = open();
      try {
        CrashWriter.Ops ops = new CrashWriter.Ops(r.nextLong(), model.size(), o.clusterSize());
        for (int i = 0; i < operations; i++) {
          if (r.nextInt(20) == 0) {
            img = reopen(img);
          }
          int k = r.nextInt(100);
          if (k < 12 && snapshotOrResize(img, k)) {
            ops = new CrashWriter.Ops(r.nextLong(), model.size(), o.clusterSize());
            continue;
          }
          CrashWriter.Op op = ops.next();
          if (op.kind() == CrashWriter.Kind.COMPRESSED && data != null) {
            op = new CrashWriter.Op(CrashWriter.Kind.WRITE, op.offset(), op.length(), op.pattern());
          }
          done.add(op.toString());
          if (op.kind() != CrashWriter.Kind.FLUSH) {
            written(op.offset(), op.length());
          }
          model.changing(op);
          CrashWriter.apply(img, op);
          CrashWriter.applyToModel(model.current(), op, o.clusterSize(), false);
          if (op.kind() == CrashWriter.Kind.FLUSH) {
            flushed();
          }
        }
        closing = true;
        img.close();
        closed();
        done.add("close");
        flushed();
      } catch (IOException | RuntimeException | Error e) {
        cutting = false;
        try {
          img.close();
        } catch (IOException | RuntimeException suppressed) {
          e.addSuppressed(suppressed);
        }
        if (e instanceof AssertionError) {
          throw e;
        }
        throw new AssertionError(
            "operation " + done.size() + " failed: " + e + "; operations " + done, e);
      }
      cutting = false;
      seen.clear();
      check("the end", PowerCutStorage.Loss.ALL);
      assertTrue(cuts > 0, "no cut was taken");
      RandomWriteTest.assertModel(model.current(), lastRead, "the disk after close");
    }

    /** Granules of 64 KiB (the "on" bitmap's) written before the last close, and since. */
    private final java.util.BitSet beforeClose = new java.util.BitSet();

    private final java.util.BitSet sinceClose = new java.util.BitSet();

    /** The disk as the last close left it. */
    private byte[] atLastClose;

    private void written(long offset, long length) {
      if (length > 0) {
        sinceClose.set((int) (offset >>> 16), (int) (((offset + length - 1) >>> 16) + 1));
      }
    }

    private boolean closing;
    private byte[] lastImageBytes;

    private void closed() {
      closing = false;
      beforeClose.or(sinceClose);
      sinceClose.clear();
      atLastClose = model.current().clone();
    }

    /**
     * The bitmaps after a cut: unless flagged in use, the disk is as the last close left it (the
     * flag is durable before any change is) and the enabled bitmap marks all that was written
     * before that close.
     */
    private void assertBitmaps(Path cutImage, String what) throws IOException {
      try (Qcow2Image img = Qcow2Image.open(cutImage)) {
        List<Bitmap> bitmaps = img.bitmaps();
        if (bitmaps.isEmpty()) {
          // Only a cut inside the in-place flagging, whose autoclear bit is off, loses them.
          assertTrue(
              (ByteBuffer.wrap(lastImageBytes, 88, 8).getLong() & 1) == 0,
              () -> what + ": bitmaps gone while vouched for");
          return;
        }
        assertEquals(2, bitmaps.size(), what);
        boolean inUse = bitmaps.get(0).inUse();
        assertTrue(bitmaps.stream().allMatch(b -> b.inUse() == inUse), what);
        if (!inUse && !closing) {
          assertTrue(
              Arrays.equals(atLastClose, lastRead),
              () -> what + ": the disk changed since the last close, bitmaps not in use");
        }
        if (!inUse) {
          java.util.BitSet marked = new java.util.BitSet();
          for (BitmapExtent e : img.dirtyBitmaps().dirtyExtents("on")) {
            marked.set((int) (e.offset() >>> 16), (int) ((e.offset() + e.length() - 1 >>> 16) + 1));
          }
          java.util.BitSet missing = (java.util.BitSet) beforeClose.clone();
          missing.andNot(marked);
          assertTrue(missing.isEmpty(), () -> what + ": bitmap 'on' misses granules " + missing);
        }
      }
    }

    private void flushed() {
      model.flushed();
      flushes++;
    }

    /** A snapshot operation (k 0 to 5) or a resize (6 to 11); false if the image allows neither. */
    private boolean snapshotOrResize(Qcow2Image img, int k) throws IOException {
      List<String> names = new ArrayList<>(model.snapshotNames());
      // No snapshots with external data files (qemu's rule), nor more than the refcounts can count.
      // Applying one counts the clusters of every snapshot, the old active layer and the new one.
      // Refcounts of 1 or 2 bits take none: compressed clusters sharing a host cluster already
      // count up to 3 there, and a snapshot's references would overflow (an ImageLimitException,
      // as qemu's; SnapshotTest covers that error).
      int maxSnapshots =
          o.refcountBits() <= 2 ? 0 : (int) Math.min(3, (1L << Math.min(o.refcountBits(), 8)) - 3);
      boolean snapshots = data == null && maxSnapshots > 0;
      if (k < 5 && snapshots) {
        inSnapshotOperation = true;
        try {
          return snapshot(img, k, names, maxSnapshots);
        } finally {
          inSnapshotOperation = false;
        }
      }
      if (k < 6 || (o.version() < 3 && !names.isEmpty())) {
        return false;
      }
      long initial = o.size();
      // Whole clusters: past a shrink to the middle of a cluster, qemu keeps the rest of that
      // cluster, and a later growth shows it again; the model has no such stale tail.
      long newSize =
          Math.max(
              o.clusterSize(),
              (initial / 2 + (long) (r.nextDouble() * initial))
                  / o.clusterSize()
                  * o.clusterSize());
      if (newSize < model.size() && o.dataFileRaw()) {
        return false; // a raw data file cannot shrink
      }
      done.add("resize " + newSize);
      beforeClose.clear(); // the bits past a shrink go; the model keeps no such history
      sinceClose.clear();
      model.resized(newSize);
      img.resize(newSize);
      return true;
    }

    private boolean snapshot(Qcow2Image img, int k, List<String> names, int max)
        throws IOException {
      if (k < 3 && names.size() < max) {
        String name = "s" + (done.size() + 1);
        done.add("snapshot " + name);
        model.snapshotCreated(name); // before: a cut inside may find it
        img.createSnapshot(name);
        return true;
      }
      if (k < 5 && !names.isEmpty()) {
        String name = names.get(r.nextInt(names.size()));
        if (k == 3) {
          done.add("delete " + name);
          model.snapshotDeleted(name);
          img.deleteSnapshot(name);
        } else if (model.snapshotSize(name) == model.size() && !setup.bitmaps()) {
          done.add("apply " + name);
          model.snapshotApplied(name); // before: a cut inside may show either disk
          img.applySnapshot(name);
        }
        return true;
      }
      return false;
    }

    @Override
    public void changed(PowerCutStorage storage) throws IOException {
      if (cutting && ++writes % every == 0) {
        cut("write " + writes + " (to " + storage.name() + ")");
      }
    }

    @Override
    public void forcing(PowerCutStorage storage) throws IOException {
      if (cutting && storage.pending() > 0) {
        cut(
            "force "
                + (storage.forces() + 1)
                + " of "
                + storage.name()
                + ", "
                + storage.pending()
                + " changes pending");
      }
    }

    private void cut(String when) throws IOException {
      cutting = false; // the checks below must not cut again
      try {
        check(when, PowerCutStorage.Loss.values()[cutRandom.nextInt(3)]);
      } finally {
        cutting = true;
      }
    }

    private byte[] lastRead;

    /**
     * The durable bytes after a cut, as files: they check clean or leaky, and read as the model
     * says.
     */
    private void check(String when, PowerCutStorage.Loss loss) throws IOException {
      byte[] imageBytes = image.afterCut(loss, cutRandom);
      lastImageBytes = imageBytes;
      byte[] dataBytes = data == null ? null : data.afterCut(loss, cutRandom);
      if (!seen.add(flushes + ":" + digest(imageBytes, dataBytes))) {
        return; // the same bytes after the same flush were checked already, with no weaker model
      }
      cuts++;
      Path cutImage = cutDir.resolve("img.qcow2");
      Files.write(cutImage, imageBytes);
      if (dataBytes != null) {
        Files.write(cutDir.resolve(o.dataFile()), dataBytes);
      }
      List<String> last = done.subList(Math.max(0, done.size() - 8), done.size());
      String what =
          "cut "
              + cuts
              + " at "
              + when
              + ", "
              + loss
              + " lost, after "
              + done.size()
              + " operations "
              + (done.size() > 8 ? "(last " + last + ")" : last.toString());
      try {
        checkCut(cutImage, imageBytes, what);
      } catch (IOException | RuntimeException e) {
        throw new AssertionError(what + ": " + e, e);
      }
    }

    private void checkCut(Path cutImage, byte[] imageBytes, String what) throws IOException {
      boolean dirty =
          o.version() >= 3
              && (ByteBuffer.wrap(imageBytes, 72, 8).getLong() & FeatureBits.INCOMPAT_DIRTY) != 0;
      // A snapshot operation sets the bit for its refcounts and COPIED flags
      // (ImageWriter.beginFlagChange).
      assertTrue(
          !dirty || o.lazyRefcounts() || inSnapshotOperation,
          () ->
              what + ": the dirty bit is set without lazy refcounts, outside a snapshot operation");
      if (dirty) {
        if (!o.lazyRefcounts()) {
          assertQemuRepairs(cutImage, what);
        }
        // Stale refcounts are what the dirty bit allows; qemu rebuilds them on a writable open, as
        // we do.
        reopenWritable(cutImage);
        assertNoCorruption("after the repair; " + what);
      } else {
        assertNoCorruption(what);
      }
      Map<String, byte[]> snapshots = new LinkedHashMap<>();
      try (Qcow2Image img = Qcow2Image.open(cutImage)) {
        lastRead = readAll(img);
        for (Snapshot s : img.snapshots()) {
          try (Qcow2Image view =
              Qcow2Image.open(cutImage, OpenOptions.builder().snapshot(null, s.name()).build())) {
            snapshots.put(s.name(), readAll(view));
          }
        }
      }
      if (setup.bitmaps()) {
        assertBitmaps(cutImage, what);
      }
      model.assertDisk(lastRead, what);
      model.assertSnapshots(snapshots, what);
      if (!dirty) {
        reopenWritable(cutImage);
      }
    }

    /**
     * qemu, opening the dirty image for writing, repairs it as we do: its check then finds at worst
     * leaks.
     */
    private void assertQemuRepairs(Path cutImage, String what) throws IOException {
      Files.copy(cutImage, cutDir.resolve("qemu.qcow2"), StandardCopyOption.REPLACE_EXISTING);
      Qemu.Result open = Qemu.exec(cutDir, List.of("qemu-io", "-c", "flush", "qemu.qcow2"));
      assertTrue(
          open.exitCode() == 0,
          () -> "qemu-io on the dirty image " + what + ":\n" + open.stdout() + open.stderr());
      assertNoCorruption("qemu.qcow2", "after qemu's repair; " + what);
      Files.delete(cutDir.resolve("qemu.qcow2"));
    }

    private void assertNoCorruption(String what) {
      assertNoCorruption("img.qcow2", what);
    }

    /**
     * qemu-img check finds at worst leaks. Inside a snapshot operation too: version 3 images are
     * marked dirty for it (checked above after qemu's own repair), and version 2 images switch to
     * the new state in one header write.
     */
    private void assertNoCorruption(String file, String what) {
      Qemu.Result check = Qemu.exec(cutDir, List.of("qemu-img", "check", file));
      String report = check.stdout() + check.stderr();
      if (check.exitCode() != 0 && check.exitCode() != 3) {
        fail("qemu-img check exit " + check.exitCode() + " " + what + ":\n" + report);
      }
      assertTrue(!report.contains("ERROR"), () -> "qemu-img check " + what + ":\n" + report);
    }

    private static void reopenWritable(Path cutImage) throws IOException {
      Qcow2Image.open(cutImage, OpenOptions.builder().writable(true).build()).close();
    }
  }

  static byte[] readAll(Qcow2Image img) throws IOException {
    byte[] b = new byte[(int) img.size()];
    img.readFully(ByteBuffer.wrap(b), 0);
    return b;
  }

  private static String digest(byte[] image, byte[] data) {
    try {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      md.update(image);
      if (data != null) {
        md.update((byte) 1);
        md.update(data);
      }
      return HexFormat.of().formatHex(md.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
