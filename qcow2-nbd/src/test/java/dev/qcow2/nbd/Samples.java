package dev.qcow2.nbd;

import dev.qcow2.testing.TestData;
import java.io.IOException;
import java.nio.file.Path;

/** Test images made by qemu-img from seeded data: data, unallocated clusters and zero clusters. */
final class Samples {
  private Samples() {}

  static final long SIZE = 8L << 20;

  /**
   * A qcow2 image ({@code compression}: null for plain, else "zlib" or "zstd", written compressed)
   * of {@link #SIZE} bytes, with holes, a zero-flag range and an unallocated tail.
   */
  static Path qcow2(Path dir, String name, String compression) throws IOException {
    Path raw = dir.resolve(name + ".src.raw");
    TestData.writeRaw(raw, SIZE - (1 << 20), name.hashCode());
    Tools.run(dir, "truncate", "-s", String.valueOf(SIZE), raw.toString());
    Path image = dir.resolve(name);
    if (compression == null) {
      Tools.run(dir, "qemu-img", "convert", "-O", "qcow2", raw.toString(), image.toString());
    } else {
      Tools.run(
          dir,
          "qemu-img",
          "convert",
          "-c",
          "-O",
          "qcow2",
          "-o",
          "compression_type=" + compression,
          raw.toString(),
          image.toString());
    }
    Tools.run(
        dir,
        "qemu-io",
        "-f",
        "qcow2",
        "-c",
        "write -z 1M 256k",
        "-c",
        "write -P 0 3M 64k",
        image.toString());
    return image;
  }

  /** An overlay over {@code base} that rewrites a little of it. */
  static Path overlay(Path dir, Path base, String name) {
    Path top = dir.resolve(name);
    Tools.run(
        dir,
        "qemu-img",
        "create",
        "-q",
        "-f",
        "qcow2",
        "-F",
        "qcow2",
        "-b",
        base.toString(),
        top.toString());
    Tools.run(
        dir,
        "qemu-io",
        "-f",
        "qcow2",
        "-c",
        "write -P 7 2M 128k",
        "-c",
        "write -z 5M 64k",
        top.toString());
    return top;
  }
}
