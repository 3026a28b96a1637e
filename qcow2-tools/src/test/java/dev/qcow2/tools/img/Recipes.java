package dev.qcow2.tools.img;

import dev.qcow2.testing.Poke;
import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Images made by qemu-img and qemu-io for the parity tests. Each returns the absolute path of the
 * image to inspect; names stored inside images (backing and data files) stay relative.
 */
final class Recipes {
  private Recipes() {}

  /**
   * An 8 MiB image with data, an unaligned write, plain zero clusters, zeroed allocated clusters
   * and discarded clusters, in the given compat level and cluster size.
   */
  static String mixed(Path dir, String compat, int clusterSize) {
    String name = "mixed-" + compat + "-" + clusterSize + ".qcow2";
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "compat=" + compat + ",cluster_size=" + clusterSize,
        name,
        "8M");
    Qemu.io(
        dir,
        name,
        "write -P 0xab 0 64k",
        "write -P 0xcd 100k 3k",
        "write -z 1M 256k",
        "write -P 0x11 2M 1M",
        "write -z 2M 64k",
        "discard 2560k 64k",
        "write -P 0x22 7M 1M");
    return abs(dir, name);
  }

  /** An image of {@code compression} compressed clusters, made by qemu-img convert -c. */
  static String compressed(Path dir, String compression) {
    String plain = "plain-" + compression + ".qcow2";
    Qemu.img(dir, "create", "-q", "-f", "qcow2", plain, "4M");
    Qemu.io(dir, plain, "write -P 0x5a 0 1M", "write -P 0x33 2M 512k");
    String name = "compressed-" + compression + ".qcow2";
    Qemu.img(
        dir, "convert", "-c", "-O", "qcow2", "-o", "compression_type=" + compression, plain, name);
    return abs(dir, name);
  }

  /**
   * top.qcow2 (512-byte clusters, 12 MiB) → sub/mid.qcow2 (4 KiB clusters) → sub/deeper/base.raw (8
   * MiB, fully written so it has no holes), each naming the next relative to itself.
   */
  static String chain(Path dir) throws IOException {
    Files.createDirectories(dir.resolve("sub/deeper"));
    Qemu.img(dir, "create", "-q", "-f", "raw", "sub/deeper/base.raw", "8M");
    Qemu.run(dir, "qemu-io", "-f", "raw", "-c", "write -P 3 0 8M", "sub/deeper/base.raw");
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-b",
        "deeper/base.raw",
        "-F",
        "raw",
        "-o",
        "cluster_size=4k",
        "sub/mid.qcow2");
    Qemu.io(dir, "sub/mid.qcow2", "write -P 4 1M 1M", "write -z 4M 256k");
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-b",
        "sub/mid.qcow2",
        "-F",
        "qcow2",
        "-o",
        "cluster_size=512",
        "top.qcow2",
        "12M");
    Qemu.io(dir, "top.qcow2", "write -P 5 1536k 64k", "write -z 0 4k", "write -P 6 9M 4k");
    return abs(dir, "top.qcow2");
  }

  /** Two snapshots (one with a space and non-ASCII in its name) and two bitmaps. */
  static String snapshotsAndBitmaps(Path dir) {
    String name = "snap.qcow2";
    Qemu.img(dir, "create", "-q", "-f", "qcow2", name, "4M");
    Qemu.io(dir, name, "write -P 0xab 0 64k");
    Qemu.img(dir, "snapshot", "-c", "first", name);
    Qemu.io(dir, name, "write -P 0xcd 64k 64k");
    Qemu.img(dir, "snapshot", "-c", "second \"snap\" é", name);
    Qemu.img(dir, "bitmap", "--add", name, "bm1");
    Qemu.img(dir, "bitmap", "--add", "-g", "128k", "--disable", name, "bm2");
    return abs(dir, name);
  }

  /** Extended L2 with whole-cluster writes only (see MapCommandTest for partial clusters). */
  static String extendedL2(Path dir) {
    String name = "el2.qcow2";
    Qemu.img(
        dir, "create", "-q", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=64k", name, "4M");
    Qemu.io(dir, name, "write -P 1 0 128k", "write -z 1M 64k", "write -P 2 2M 64k");
    return abs(dir, name);
  }

  /** Extended L2 with writes that allocate only some subclusters of a cluster. */
  static String extendedL2Partial(Path dir) {
    String name = "el2-partial.qcow2";
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "extended_l2=on", name, "4M");
    Qemu.io(dir, name, "write -P 1 0 4k", "write -P 2 2M 1k");
    return abs(dir, name);
  }

  /** An external data file (df.data), with zstd compression type and lazy refcounts. */
  static String dataFile(Path dir, boolean dataFileRaw) {
    String name = "df.qcow2";
    Qemu.img(
        dir,
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "data_file=df.data,data_file_raw="
            + (dataFileRaw ? "on" : "off")
            + ",lazy_refcounts=on,compression_type=zstd",
        name,
        "4M");
    Qemu.io(dir, name, "write -P 1 0 64k", "write -P 2 1M 128k");
    return abs(dir, name);
  }

  /** Lazy refcounts and a qemu-io that aborts after writing: the dirty bit stays set. */
  static String dirty(Path dir) {
    String name = "dirty.qcow2";
    Qemu.img(dir, "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", name, "1M");
    // qemu-io's "abort" calls abort(3), so the image is never closed; the exit code is 134.
    Qemu.exec(
        dir,
        java.util.List.of("qemu-io", "-f", "qcow2", "-c", "write -P 7 0 64k", "-c", "abort", name));
    return abs(dir, name);
  }

  /** The corrupt bit (incompatible feature bit 1) set by hand. */
  static String corrupt(Path dir) throws IOException {
    String name = "corrupt.qcow2";
    Qemu.img(dir, "create", "-q", "-f", "qcow2", name, "1M");
    Qemu.io(dir, name, "write -P 7 0 64k");
    Path p = dir.resolve(name);
    Poke.u64(p, 72, Poke.readU64(p, 72) | 2);
    return abs(dir, name);
  }

  static String abs(Path dir, String name) {
    return dir.resolve(name).toAbsolutePath().toString();
  }
}
