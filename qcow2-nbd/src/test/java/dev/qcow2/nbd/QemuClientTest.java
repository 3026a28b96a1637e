package dev.qcow2.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** qemu as the client: qemu-img on nbd:// URIs, and qemu-io writing through the server. */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class QemuClientTest {
  private static final int CLUSTER = 65536;

  @TempDir Path dir;

  @Test
  void qemu_img_info_map_compare_and_convert_read_the_export() throws Exception {
    Path base = Samples.qcow2(dir, "base.qcow2", "zstd");
    Path top = Samples.overlay(dir, base, "top.qcow2");
    try (Served s = Served.readOnly(top, ServerOptions.builder().exportName("top"))) {
      String uri = s.uri("top");
      String info = Tools.run(dir, "qemu-img", "info", "--output=json", uri);
      assertTrue(info.contains("\"virtual-size\": " + Samples.SIZE), info);
      assertEquals(
          flagsOf(Tools.run(dir, "qemu-img", "map", "--output=json", top.toString())),
          flagsOf(Tools.run(dir, "qemu-img", "map", "--output=json", "-f", "raw", uri)));
      String same =
          Tools.run(dir, "qemu-img", "compare", "-f", "raw", "-F", "qcow2", uri, top.toString());
      assertTrue(same.contains("Images are identical."), same);
      Tools.run(dir, "qemu-img", "convert", "-f", "raw", "-O", "raw", uri, "copy.raw");
    }
    Tools.run(dir, "qemu-img", "convert", "-O", "raw", top.toString(), "expected.raw");
    assertEquals(-1, Files.mismatch(dir.resolve("expected.raw"), dir.resolve("copy.raw")));
  }

  /**
   * qemu-img map --output=json lines reduced to start, length, data and zero, neighbours merged.
   */
  private static List<String> flagsOf(String json) {
    List<String> runs = new ArrayList<>();
    long start = 0;
    long length = 0;
    String flags = null;
    for (String line : json.split("\n")) {
      if (!line.contains("\"start\"")) {
        continue;
      }
      long s = Long.parseLong(field(line, "start"));
      long l = Long.parseLong(field(line, "length"));
      String f = field(line, "data") + "," + field(line, "zero");
      if (f.equals(flags) && start + length == s) {
        length += l;
      } else {
        if (flags != null) {
          runs.add(start + " " + length + " " + flags);
        }
        start = s;
        length = l;
        flags = f;
      }
    }
    runs.add(start + " " + length + " " + flags);
    return runs;
  }

  private static String field(String line, String name) {
    int at = line.indexOf("\"" + name + "\": ") + name.length() + 4;
    int end = at;
    while (line.charAt(end) != ',' && line.charAt(end) != '}') {
      end++;
    }
    return line.substring(at, end).strip();
  }

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {1, 2, 3})
  void qemu_io_random_writes_discards_and_zeroes_match_a_model(long seed) throws Exception {
    Path image = Samples.qcow2(dir, "a.qcow2", null);
    Tools.run(dir, "qemu-img", "convert", "-O", "raw", image.toString(), "before.raw");
    byte[] model = Files.readAllBytes(dir.resolve("before.raw"));
    List<String> commands = randomCommands(new Random(seed), model);
    try (Served s = Served.writable(image, ServerOptions.builder().discard(true))) {
      List<String> cmd = new ArrayList<>(List.of("qemu-io", "--discard=unmap", "-f", "raw"));
      for (String c : commands) {
        cmd.add("-c");
        cmd.add(c);
      }
      cmd.add(s.uri());
      Tools.Result r = Tools.exec(dir, cmd);
      String all = r.stdout() + r.stderr();
      assertEquals(0, r.exitCode(), "seed " + seed + ": " + all);
      assertTrue(!all.contains("failed") && !all.contains("error"), "seed " + seed + ": " + all);
    }
    String check = Tools.run(dir, "qemu-img", "check", image.toString());
    assertTrue(check.contains("No errors were found on the image."), "seed " + seed + ": " + check);
    Tools.run(dir, "qemu-img", "convert", "-O", "raw", image.toString(), "after.raw");
    byte[] after = Files.readAllBytes(dir.resolve("after.raw"));
    int at = Arrays.mismatch(model, after);
    assertEquals(-1, at, "seed " + seed + ": the image differs from the model at byte " + at);
  }

  /**
   * Writes of a one-byte pattern, zeroes with and without unmapping, discards and reads, applied to
   * {@code model} as the server should apply them. A read checks its pattern ({@code read -P})
   * where the model says the range holds one byte value. A discard zeroes the whole clusters it
   * covers and leaves the rest, as the library's discard does.
   */
  private static List<String> randomCommands(Random r, byte[] model) {
    List<String> commands = new ArrayList<>();
    int size = model.length;
    for (int i = 0; i < 200; i++) {
      int length = r.nextBoolean() ? 512 * (1 + r.nextInt(512)) : 1 + r.nextInt(200_000);
      int offset = r.nextInt(size - length);
      if (r.nextBoolean()) {
        offset &= ~511;
      }
      switch (r.nextInt(6)) {
        case 0, 1 -> {
          int pattern = 1 + r.nextInt(255);
          commands.add("write -P " + pattern + " " + offset + " " + length);
          Arrays.fill(model, offset, offset + length, (byte) pattern);
        }
        case 2 -> {
          commands.add("write -z" + (r.nextBoolean() ? " -u " : " ") + offset + " " + length);
          Arrays.fill(model, offset, offset + length, (byte) 0);
        }
        case 3 -> {
          commands.add("discard " + offset + " " + length);
          int first = (offset + CLUSTER - 1) / CLUSTER * CLUSTER;
          int end = (offset + length) / CLUSTER * CLUSTER;
          if (first < end) {
            Arrays.fill(model, first, end, (byte) 0);
          }
        }
        default -> {
          int n = 1 + r.nextInt(Math.min(length, 8192));
          if (uniform(model, offset, n)) {
            commands.add("read -P " + (model[offset] & 0xff) + " " + offset + " " + n);
          } else {
            commands.add("read " + offset + " " + n);
          }
        }
      }
      if (r.nextInt(20) == 0) {
        commands.add("flush");
      }
    }
    return commands;
  }

  private static boolean uniform(byte[] b, int from, int n) {
    for (int i = from + 1; i < from + n; i++) {
      if (b[i] != b[from]) {
        return false;
      }
    }
    return true;
  }
}
