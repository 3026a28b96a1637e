package dev.qcow2.remote;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertThrowsExactly;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@link HttpRangeSource} against {@link RangeServer} and its faults. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HttpRangeSourceTest {
  /** Quick retries, no proxy whatever the environment holds. */
  static final RemoteOptions FAST =
      RemoteOptions.builder()
          .retryDelay(Duration.ofMillis(1))
          .maxRetries(3)
          .requestTimeout(Duration.ofSeconds(10))
          .environment(Map.of())
          .build();

  @TempDir Path dir;
  RangeServer server;
  byte[] content;
  Path file;

  @BeforeEach
  void start() throws IOException {
    server = new RangeServer();
    content = new byte[3 << 20];
    new Random(7).nextBytes(content);
    file = Files.write(dir.resolve("object"), content);
    server.put("object", file);
  }

  @AfterEach
  void stop() {
    server.close();
  }

  @Test
  void rangesEqualTheObjectAndOnlyThemAreSent() throws IOException {
    try (HttpRangeSource src = HttpRangeSource.open(server.uri("object"), FAST)) {
      assertEquals(content.length, src.length());
      Random r = new Random(1);
      long asked = 0;
      for (int i = 0; i < 50; i++) {
        int pos = r.nextInt(content.length);
        int len = Math.min(content.length - pos, 1 + r.nextInt(200_000));
        ByteBuffer b = ByteBuffer.allocate(len);
        src.read(b, pos);
        assertArrayEquals(
            Arrays.copyOfRange(content, pos, pos + len), b.array(), "range at " + pos);
        asked += len;
      }
      // The first contact asks for one byte.
      assertEquals(asked + 1, server.bytesSent.get());
      assertEquals(51, server.requests.get());
    }
  }

  @Test
  void theWholeObjectCanBeReadInOneRange() throws IOException {
    try (HttpRangeSource src = HttpRangeSource.open(server.uri("object"), FAST)) {
      ByteBuffer b = ByteBuffer.allocate(content.length);
      src.read(b, 0);
      assertArrayEquals(content, b.array());
    }
  }

  @Test
  void aServerThatIgnoresRangeIsRefusedWithoutReadingTheBody() throws IOException {
    Path big = dir.resolve("big");
    try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
      f.setLength(256L << 20);
    }
    server.put("big", big);
    server.ignoreRange = true;
    try (HttpRangeSource src = HttpRangeSource.open(server.uri("big"), FAST)) {
      RangeNotSupportedException e =
          assertThrowsExactly(RangeNotSupportedException.class, src::length);
      assertOneLineNaming(e, server.uri("big"));
      assertTrue(e.getMessage().contains("ignores range requests"), e.getMessage());
    }
    assertEquals(1, server.requests.get(), "refused at once, not retried");
    assertTrue(
        server.bytesSent.get() < (32L << 20),
        "sent " + server.bytesSent.get() + " bytes of a 256 MiB body");
  }

  @Test
  void aWrong416IsRefused() throws IOException {
    server.wrong416 = true;
    try (HttpRangeSource src = HttpRangeSource.open(server.uri("object"), FAST)) {
      assertEquals(content.length, src.length());
      RangeNotSupportedException e =
          assertThrowsExactly(
              RangeNotSupportedException.class, () -> src.read(ByteBuffer.allocate(100), 1 << 20));
      assertOneLineNaming(e, server.uri("object"));
      assertTrue(e.getMessage().contains("416"), e.getMessage());
    }
  }

  @Test
  void fiveHundredsAreRetried() throws IOException {
    server.failEvery = 3;
    try (HttpRangeSource src = HttpRangeSource.open(server.uri("object"), FAST)) {
      ByteBuffer b = ByteBuffer.allocate(content.length);
      for (int at = 0; at < content.length; at += 65536) {
        src.read(b.slice(at, 65536), at);
      }
      assertArrayEquals(content, b.array());
    }
    assertTrue(server.requests.get() > 49, "requests: " + server.requests.get());
  }

  @Test
  void connectionsResetInTheMiddleOfABodyAreRetried() throws Exception {
    try (ServerSocket raw = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      Thread t = new Thread(() -> serveCuttingEveryOther(raw));
      t.setDaemon(true);
      t.start();
      URI uri = URI.create("http://127.0.0.1:" + raw.getLocalPort() + "/object");
      try (HttpRangeSource src = HttpRangeSource.open(uri, FAST)) {
        ByteBuffer b = ByteBuffer.allocate(content.length);
        for (int at = 0; at < content.length; at += 256 << 10) {
          src.read(b.slice(at, 256 << 10), at);
        }
        assertArrayEquals(content, b.array());
      }
    }
  }

  /**
   * A one-connection-at-a-time server of {@link #content} that resets every other connection
   * halfway through its body (SO_LINGER 0: an RST, as a crashed peer sends).
   */
  private void serveCuttingEveryOther(ServerSocket raw) {
    for (int n = 0; ; n++) {
      try (Socket s = raw.accept()) {
        java.io.BufferedReader in =
            new java.io.BufferedReader(
                new java.io.InputStreamReader(
                    s.getInputStream(), java.nio.charset.StandardCharsets.ISO_8859_1));
        long first = 0;
        long last = content.length - 1;
        for (String line = in.readLine(); line != null && !line.isEmpty(); line = in.readLine()) {
          if (line.toLowerCase(java.util.Locale.ROOT).startsWith("range: bytes=")) {
            String[] r = line.substring(13).trim().split("-");
            first = Long.parseLong(r[0]);
            last = Long.parseLong(r[1]);
          }
        }
        int len = (int) (last - first + 1);
        java.io.OutputStream out = s.getOutputStream();
        out.write(
            ("HTTP/1.1 206 Partial Content\r\nContent-Length: "
                    + len
                    + "\r\nContent-Range: bytes "
                    + first
                    + "-"
                    + last
                    + "/"
                    + content.length
                    + "\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n")
                .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        boolean cut = n % 2 == 1;
        out.write(content, (int) first, cut ? len / 2 : len);
        out.flush();
        if (cut) {
          s.setSoLinger(true, 0);
        }
      } catch (IOException e) {
        if (raw.isClosed()) {
          return;
        }
      }
    }
  }

  @Test
  void retriesAreCapped() throws IOException {
    server.failEvery = 1;
    try (HttpRangeSource src = HttpRangeSource.open(server.uri("object"), FAST)) {
      RemoteObjectException e = assertThrowsExactly(RemoteObjectException.class, src::length);
      assertOneLineNaming(e, server.uri("object"));
      assertTrue(e.getMessage().contains("HTTP 503"), e.getMessage());
    }
    assertEquals(FAST.maxRetries() + 1, server.requests.get());
  }

  @Test
  void notFoundAndAccessDeniedAreTyped() throws IOException {
    try (HttpRangeSource src = HttpRangeSource.open(server.uri("missing"), FAST)) {
      NoSuchObjectException e = assertThrowsExactly(NoSuchObjectException.class, src::length);
      assertOneLineNaming(e, server.uri("missing"));
      assertTrue(e.getMessage().contains("not found (HTTP 404)"), e.getMessage());
    }
    try (HttpRangeSource src = HttpRangeSource.open(server.uri("denied/x"), FAST)) {
      ObjectAccessDeniedException e =
          assertThrowsExactly(ObjectAccessDeniedException.class, src::length);
      assertOneLineNaming(e, server.uri("denied/x"));
      assertTrue(e.getMessage().contains("access denied (HTTP 403)"), e.getMessage());
    }
    assertEquals(2, server.requests.get(), "4xx answers are not retried");
  }

  @Test
  void anObjectReplacedWithAnEtagIsRefused() throws IOException {
    assertChangeRefused();
  }

  @Test
  void anObjectReplacedWithoutEtagIsRefusedByItsDate() throws IOException {
    server.etags = false;
    assertChangeRefused();
  }

  @Test
  void anObjectReplacedWithoutEtagOrDateIsRefusedByItsLength() throws IOException {
    server.etags = false;
    server.lastModified = false;
    try (HttpRangeSource src = HttpRangeSource.open(server.uri("object"), FAST)) {
      src.read(ByteBuffer.allocate(1000), 0);
      server.put("object", Files.write(dir.resolve("longer"), new byte[content.length + 1]));
      ObjectChangedException e =
          assertThrowsExactly(
              ObjectChangedException.class, () -> src.read(ByteBuffer.allocate(1000), 5000));
      assertOneLineNaming(e, server.uri("object"));
    }
  }

  private void assertChangeRefused() throws IOException {
    try (HttpRangeSource src = HttpRangeSource.open(server.uri("object"), FAST)) {
      src.read(ByteBuffer.allocate(1000), 0);
      byte[] other = content.clone();
      other[5000] ^= 1;
      server.put("object", Files.write(dir.resolve("other"), other));
      ObjectChangedException e =
          assertThrowsExactly(
              ObjectChangedException.class, () -> src.read(ByteBuffer.allocate(1000), 5000));
      assertOneLineNaming(e, server.uri("object"));
      assertTrue(e.getMessage().contains("changed while being read"), e.getMessage());
    }
  }

  @Test
  void redirectsAreFollowedWithinABound() throws IOException {
    try (HttpRangeSource src = HttpRangeSource.open(server.uri("r/r/object"), FAST)) {
      ByteBuffer b = ByteBuffer.allocate(4096);
      src.read(b, 8192);
      assertArrayEquals(Arrays.copyOfRange(content, 8192, 8192 + 4096), b.array());
    }
    server.resetCounts();
    try (HttpRangeSource src = HttpRangeSource.open(server.uri("loop"), FAST)) {
      RemoteObjectException e = assertThrowsExactly(RemoteObjectException.class, src::length);
      assertTrue(
          e.getMessage().contains("more than " + FAST.maxRedirects() + " redirects"),
          e.getMessage());
    }
    assertEquals(FAST.maxRedirects() + 1, server.requests.get());
  }

  @Test
  void anEmptyObjectHasLengthZero() throws IOException {
    server.put("empty", Files.write(dir.resolve("empty"), new byte[0]));
    try (HttpRangeSource src = HttpRangeSource.open(server.uri("empty"), FAST)) {
      assertEquals(0, src.length());
    }
  }

  @Test
  void aServerThatNeverAnswersTimesOut() throws IOException {
    List<Socket> held = new ArrayList<>();
    try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      Thread acceptor =
          new Thread(
              () -> {
                try {
                  while (true) {
                    held.add(silent.accept()); // and never answer
                  }
                } catch (IOException e) {
                  // closed
                }
              });
      acceptor.setDaemon(true);
      acceptor.start();
      RemoteOptions quick =
          RemoteOptions.builder()
              .environment(Map.of())
              .retryDelay(Duration.ofMillis(1))
              .maxRetries(2)
              .requestTimeout(Duration.ofMillis(300))
              .build();
      URI uri = URI.create("http://127.0.0.1:" + silent.getLocalPort() + "/x.qcow2");
      try (HttpRangeSource src = HttpRangeSource.open(uri, quick)) {
        RemoteObjectException e = assertThrowsExactly(RemoteObjectException.class, src::length);
        assertOneLineNaming(e, uri);
        assertTrue(e.getMessage().contains("after 2 retries"), e.getMessage());
      }
    } finally {
      for (Socket s : held) {
        s.close();
      }
    }
  }

  @Test
  void aClosedPortFailsAfterItsRetries() throws IOException {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    URI uri = URI.create("http://127.0.0.1:" + port + "/x.qcow2");
    try (HttpRangeSource src = HttpRangeSource.open(uri, FAST)) {
      RemoteObjectException e = assertThrowsExactly(RemoteObjectException.class, src::length);
      assertOneLineNaming(e, uri);
    }
  }

  @Test
  void onlyHttpAndHttpsAreAccepted() {
    assertThrows(
        IllegalArgumentException.class, () -> HttpRangeSource.open(URI.create("ftp://h/x"), FAST));
    assertThrows(
        IllegalArgumentException.class,
        () -> HttpRangeSource.open(URI.create("file:///etc/passwd"), FAST));
  }

  @Test
  void proxyVariablesAsCurlReadsThem() {
    ProxyVariables p =
        new ProxyVariables(
            Map.of(
                "http_proxy", "http://proxy.example:3128",
                "HTTPS_PROXY", "sproxy.example",
                "no_proxy", "localhost, .internal.example,10.0.0.1:8080"));
    assertEquals(
        List.of(
            new Proxy(Proxy.Type.HTTP, InetSocketAddress.createUnresolved("proxy.example", 3128))),
        p.select(URI.create("http://h.example/x")));
    assertEquals(
        List.of(
            new Proxy(Proxy.Type.HTTP, InetSocketAddress.createUnresolved("sproxy.example", 1080))),
        p.select(URI.create("https://h.example/x")));
    for (String direct :
        List.of(
            "http://localhost/x",
            "http://a.internal.example/x",
            "http://internal.example/x",
            "http://10.0.0.1/x")) {
      assertEquals(List.of(Proxy.NO_PROXY), p.select(URI.create(direct)), direct);
    }
    // The upper-case HTTP_PROXY is not honoured ("httpoxy").
    assertEquals(
        List.of(Proxy.NO_PROXY),
        new ProxyVariables(Map.of("HTTP_PROXY", "p:1")).select(URI.create("http://h/x")));
    assertEquals(
        List.of(Proxy.NO_PROXY),
        new ProxyVariables(Map.of("http_proxy", "p:1", "no_proxy", "*"))
            .select(URI.create("http://h/x")));
  }

  static void assertOneLineNaming(Exception e, URI uri) {
    assertTrue(e.getMessage().startsWith(uri.toString() + ": "), e.getMessage());
    assertTrue(!e.getMessage().contains("\n"), e.getMessage());
  }
}
