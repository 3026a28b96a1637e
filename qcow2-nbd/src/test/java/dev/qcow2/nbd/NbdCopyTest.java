package dev.qcow2.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** nbdcopy (libnbd) both ways: out of a served image, and into a served qcow2 image. */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class NbdCopyTest {
  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(strings = {"plain", "zlib", "zstd"})
  void copies_out_what_qemu_img_convert_writes(String kind) throws Exception {
    Path image = Samples.qcow2(dir, kind + ".qcow2", kind.equals("plain") ? null : kind);
    Tools.run(dir, "qemu-img", "convert", "-O", "raw", image.toString(), "expected.raw");
    try (Served s = Served.readOnly(image, ServerOptions.builder())) {
      Tools.run(dir, "nbdcopy", s.uri(), "copy.raw");
    }
    assertEquals(-1, Files.mismatch(dir.resolve("expected.raw"), dir.resolve("copy.raw")));
  }

  @Test
  void copies_out_of_an_overlay_with_four_connections_and_64_requests_each() throws Exception {
    Path base = Samples.qcow2(dir, "base.qcow2", "zlib");
    Path top = Samples.overlay(dir, base, "top.qcow2");
    Tools.run(dir, "qemu-img", "convert", "-O", "raw", top.toString(), "expected.raw");
    try (Served s = Served.readOnly(top, ServerOptions.builder().maxConnections(4))) {
      Tools.run(dir, "nbdcopy", "--connections=4", "--requests=64", s.uri(), "copy.raw");
    }
    assertEquals(-1, Files.mismatch(dir.resolve("expected.raw"), dir.resolve("copy.raw")));
  }

  @Test
  void copies_a_raw_file_into_a_served_qcow2_image() throws Exception {
    Path raw = Samples.qcow2(dir, "src.qcow2", null).resolveSibling("src.qcow2.src.raw");
    Tools.run(
        dir, "qemu-img", "create", "-q", "-f", "qcow2", "dst.qcow2", String.valueOf(Samples.SIZE));
    try (Served s = Served.writable(dir.resolve("dst.qcow2"), ServerOptions.builder())) {
      Tools.run(dir, "nbdcopy", raw.toString(), s.uri());
    }
    assertCleanAndEqual(raw, "dst.qcow2");
  }

  @Test
  void copies_in_with_four_connections_and_64_requests_each() throws Exception {
    Path raw = Samples.qcow2(dir, "src.qcow2", null).resolveSibling("src.qcow2.src.raw");
    Tools.run(
        dir,
        "qemu-img",
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "cluster_size=4096",
        "dst.qcow2",
        String.valueOf(Samples.SIZE));
    try (Served s =
        Served.writable(dir.resolve("dst.qcow2"), ServerOptions.builder().maxConnections(4))) {
      Tools.run(dir, "nbdcopy", "--connections=4", "--requests=64", raw.toString(), s.uri());
    }
    assertCleanAndEqual(raw, "dst.qcow2");
  }

  private void assertCleanAndEqual(Path raw, String image) {
    String check = Tools.run(dir, "qemu-img", "check", image);
    assertTrue(check.contains("No errors were found on the image."), check);
    Tools.run(dir, "qemu-img", "compare", "-f", "raw", "-F", "qcow2", raw.toString(), image);
  }
}
