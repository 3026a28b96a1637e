package dev.qcow2.nbd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Metadata contexts on the wire, side by side with qemu-nbd serving a copy of the same image with
 * {@code -A -B b0 -B b1}: the contexts each LIST and SET query names, with their ids, and the
 * NBD_REPLY_TYPE_BLOCK_STATUS chunks (one per selected context) of whole, unaligned and REQ_ONE
 * requests are the same.
 */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class MetaContextTest {
  @TempDir Path dir;
  private Served ours;
  private Process qemu;
  private int qemuPort;

  @BeforeEach
  void serve() throws Exception {
    Path image = dir.resolve("a.qcow2");
    Tools.run(dir, "qemu-img", "create", "-q", "-f", "qcow2", image.toString(), "8M");
    Tools.run(dir, "qemu-img", "bitmap", "--add", image.toString(), "b0");
    Tools.run(dir, "qemu-img", "bitmap", "--add", "-g", "512k", image.toString(), "b1");
    Tools.run(
        dir,
        "qemu-io",
        "-f",
        "qcow2",
        "-c",
        "write 64k 64k",
        "-c",
        "write 1M 4k",
        "-c",
        "write 3000k 1k",
        "-c",
        "write 7M 1M",
        image.toString());
    Files.copy(image, dir.resolve("ref.qcow2"));
    Files.copy(image, dir.resolve("c.qcow2"));
    // qemu-nbd lists the last -B first: the same order given here.
    ours =
        Served.writable(
            image, ServerOptions.builder().allocationDepth(true).bitmaps(List.of("b1", "b0")));
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      qemuPort = s.getLocalPort();
    }
    Path pid = dir.resolve("qemu-nbd.pid");
    qemu =
        new ProcessBuilder(
                "qemu-nbd",
                "-t",
                "-A",
                "-B",
                "b0",
                "-B",
                "b1",
                "-b",
                "127.0.0.1",
                "-p",
                "" + qemuPort,
                "--pid-file",
                pid.toString(),
                dir.resolve("ref.qcow2").toString())
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("qemu-nbd.log").toFile())
            .start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!Files.exists(pid)) {
      if (!qemu.isAlive() || System.nanoTime() > deadline) {
        fail("qemu-nbd did not start: " + Files.readString(dir.resolve("qemu-nbd.log")));
      }
      Thread.sleep(20);
    }
  }

  @AfterEach
  void stop() throws Exception {
    try {
      ours.close();
    } finally {
      qemu.destroy();
      assertTrue(qemu.waitFor(30, TimeUnit.SECONDS), "qemu-nbd stops on SIGTERM");
    }
  }

  /** The contexts a fresh connection with structured replies gets for {@code queries}. */
  private static List<String> query(int port, int option, String... queries) throws IOException {
    try (RawClient c = structured(port)) {
      return c.metaContexts(option, queries);
    }
  }

  private static RawClient structured(int port) throws IOException {
    RawClient c = new RawClient(port).greet();
    c.option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
    assertEquals(Nbd.REP_ACK, c.optionReply().type());
    return c;
  }

  @Test
  void list_and_set_queries_name_the_contexts_qemu_nbd_names() throws Exception {
    String[][] queries = {
      {},
      {"qemu:"},
      {"qemu:dirty-bitmap:"},
      {"base:"},
      {"qemu:dirty-bitmap:b0"},
      {"qemu:dirty-bitmap:nope", "qemu:dirty-bitmap:b1", "base:allocation"},
      {"qemu:allocation-depth", "qemu:dirty-bitmap:b0", "qemu:dirty-bitmap:b1"},
      {"qemu:dirty-bitmap:b"},
      {"nbd-server:"}
    };
    for (int option : new int[] {Nbd.OPT_LIST_META_CONTEXT, Nbd.OPT_SET_META_CONTEXT}) {
      for (String[] q : queries) {
        assertEquals(
            query(qemuPort, option, q),
            query(ours.server.port(), option, q),
            "option " + option + " " + List.of(q));
      }
    }
    assertTrue(
        query(ours.server.port(), Nbd.OPT_LIST_META_CONTEXT, "qemu:")
            .containsAll(List.of("0 qemu:allocation-depth", "0 qemu:dirty-bitmap:b1")));
    assertEquals(List.of(), query(ours.server.port(), Nbd.OPT_SET_META_CONTEXT, "qemu:"));
  }

  /**
   * The block status chunks of one request, by context id: each context's descriptors as "LENGTH
   * FLAGS" pairs, and every chunk's cookie checked.
   */
  private static TreeMap<Integer, List<String>> blockStatus(
      int port, int flags, long offset, long length, String... contexts) throws IOException {
    try (RawClient c = structured(port)) {
      assertEquals(contexts.length, c.metaContexts(Nbd.OPT_SET_META_CONTEXT, contexts).size());
      c.enter("");
      c.request(flags, Nbd.CMD_BLOCK_STATUS, 77, offset, length);
      TreeMap<Integer, List<String>> chunks = new TreeMap<>();
      for (int i = 0; i <= contexts.length; i++) {
        RawClient.Reply r = c.reply(0);
        assertEquals(77, r.cookie());
        assertEquals(Nbd.REPLY_TYPE_BLOCK_STATUS, r.type(), "chunk type");
        ByteBuffer b = ByteBuffer.wrap(r.data());
        List<String> descriptors = new ArrayList<>();
        long total = 0;
        int id = b.getInt();
        while (b.hasRemaining()) {
          long n = b.getInt() & 0xffffffffL;
          descriptors.add(n + " " + b.getInt());
          total += n;
        }
        assertFalse(descriptors.isEmpty(), "a chunk has at least one descriptor");
        assertTrue(total <= length, "descriptors end inside the request: " + descriptors);
        assertEquals(null, chunks.put(id, descriptors), "one chunk per context");
        if ((r.flags() & Nbd.REPLY_FLAG_DONE) != 0) {
          return chunks;
        }
      }
      return fail("no chunk with NBD_REPLY_FLAG_DONE among " + chunks);
    }
  }

  @Test
  void block_status_answers_each_context_in_its_own_chunk_as_qemu_nbd_does() throws Exception {
    String[] contexts = {"qemu:dirty-bitmap:b0", "qemu:allocation-depth", "qemu:dirty-bitmap:b1"};
    long[][] ranges = {{0, 8 << 20}, {100_000, 3_000_000}, {1 << 20, 4096}, {8_000_000, 388_608}};
    for (long[] range : ranges) {
      for (int flags : new int[] {0, Nbd.CMD_FLAG_REQ_ONE}) {
        TreeMap<Integer, List<String>> mine =
            blockStatus(ours.server.port(), flags, range[0], range[1], contexts);
        assertEquals(
            blockStatus(qemuPort, flags, range[0], range[1], contexts),
            mine,
            "range " + range[0] + "+" + range[1] + " flags " + flags);
        assertEquals(List.of(1, 2, 3), List.copyOf(mine.keySet()));
        if (flags != 0) {
          mine.values().forEach(d -> assertEquals(1, d.size(), d.toString()));
        }
      }
    }
  }

  /** Serves {@code image} on loopback at a free port. */
  private static NbdServer start(DiskImage image, ServerOptions options) throws IOException {
    return NbdServer.start(
        image, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), options);
  }

  @Test
  void a_missing_bitmap_refuses_the_export_and_leaves_the_image_to_its_owner() throws Exception {
    try (DiskImage image = Qcow2Image.open(dir.resolve("c.qcow2"), OpenOptions.defaults())) {
      for (String missing : List.of("nope", "")) {
        IllegalArgumentException e =
            assertThrows(
                IllegalArgumentException.class,
                () ->
                    start(image, ServerOptions.builder().bitmaps(List.of("b0", missing)).build()));
        assertEquals("Bitmap '" + missing + "' is not found", e.getMessage());
      }
      assertEquals(8 << 20, image.size(), "still open");
    }
  }

  @Test
  void an_enabled_bitmap_of_a_writable_image_exported_read_only_is_refused() throws Exception {
    Tools.run(dir, "qemu-img", "bitmap", "--disable", dir.resolve("c.qcow2").toString(), "b1");
    try (Qcow2Image image =
        Qcow2Image.open(dir.resolve("c.qcow2"), OpenOptions.builder().writable(true).build())) {
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  start(
                      image,
                      ServerOptions.builder().readOnly(true).bitmaps(List.of("b0")).build()));
      // qemu-nbd's words: its bits could change under a client told the export is read-only.
      assertEquals("Enabled bitmap 'b0' incompatible with readonly export", e.getMessage());
      try (NbdServer server =
          start(image, ServerOptions.builder().readOnly(true).bitmaps(List.of("b1")).build())) {
        String uri = "nbd://127.0.0.1:" + server.port() + "/";
        String map = Tools.run(dir, "nbdinfo", "--map=qemu:dirty-bitmap:b1", uri);
        assertTrue(map.contains("dirty"), "a disabled bitmap is served: " + map);
      }
    }
  }
}
