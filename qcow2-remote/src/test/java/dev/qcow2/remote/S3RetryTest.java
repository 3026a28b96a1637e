package dev.qcow2.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.qcow2.remote.S3RequestException.Reason;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntPredicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * Server errors on the wire: a loopback TCP relay in front of s3proxy answers "503 SlowDown" on
 * chosen connections. The client retries them, a bounded number of times.
 */
@Timeout(60)
class S3RetryTest extends S3ServerTest {

  /** Relays connections to s3proxy, except those {@code refuse} picks (numbered from 1). */
  static final class SlowDownRelay implements AutoCloseable {
    private static final String BODY =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>"
            + "<Message>Please reduce your request rate.</Message></Error>";
    final ServerSocket socket;
    final AtomicInteger connections = new AtomicInteger();
    private final int target;
    private final IntPredicate refuse;

    SlowDownRelay(int target, IntPredicate refuse) throws IOException {
      this.socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
      this.target = target;
      this.refuse = refuse;
      daemon(this::acceptLoop);
    }

    String endpoint() {
      return "http://127.0.0.1:" + socket.getLocalPort();
    }

    private void acceptLoop() {
      while (!socket.isClosed()) {
        try {
          Socket client = socket.accept();
          int n = connections.incrementAndGet();
          daemon(() -> serve(client, n));
        } catch (IOException closed) {
          return;
        }
      }
    }

    private void serve(Socket client, int n) {
      try (client) {
        if (refuse.test(n)) {
          readHead(client.getInputStream());
          byte[] body = BODY.getBytes(StandardCharsets.UTF_8);
          OutputStream out = client.getOutputStream();
          out.write(
              ("HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: "
                      + body.length
                      + "\r\nConnection: close\r\n\r\n")
                  .getBytes(StandardCharsets.US_ASCII));
          out.write(body);
          out.flush();
          return;
        }
        try (Socket server = new Socket(InetAddress.getLoopbackAddress(), target)) {
          daemon(() -> pipe(server, client));
          pipe(client, server);
        }
      } catch (IOException ignored) {
        // A relay connection ends when either side closes it.
      }
    }

    /** Reads a request's head (the requests refused here carry no body). */
    private static void readHead(InputStream in) throws IOException {
      int state = 0;
      for (int read = 0; state < 4 && read < 65536; read++) {
        int c = in.read();
        if (c < 0) {
          return;
        }
        state = (c == '\r' && state % 2 == 0) || (c == '\n' && state % 2 == 1) ? state + 1 : 0;
      }
    }

    private static void pipe(Socket from, Socket to) {
      try {
        from.getInputStream().transferTo(to.getOutputStream());
        to.shutdownOutput();
      } catch (IOException ignored) {
        // Closed by the other direction.
      }
    }

    private static void daemon(Runnable r) {
      Thread t = new Thread(r, "s3-relay");
      t.setDaemon(true);
      t.start();
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }
  }

  S3Client through(SlowDownRelay relay) throws IOException {
    Map<String, String> env = server.env();
    env.put("AWS_ENDPOINT_URL", relay.endpoint());
    return S3Clients.create(env);
  }

  @Test
  void twoServerErrorsInARowAreRetried() throws Exception {
    client.putObject(
        b -> b.bucket(BUCKET).key("retry/blob"), RequestBody.fromBytes(new byte[] {1, 2, 3}));
    try (SlowDownRelay relay = new SlowDownRelay(server.endpoint().getPort(), n -> n <= 2);
        S3Client retrying = through(relay);
        S3RangeSource source = S3RangeSource.open(retrying, at("retry/blob"))) {
      ByteBuffer b = ByteBuffer.allocate(3);
      source.read(b, 0);
      assertEquals(3, b.get(2));
      assertEquals(
          3, relay.connections.get(), "two refused connections, then one for both requests");
    }
  }

  @Test
  void aStoreThatKeepsFailingGivesUpAfterThreeAttempts() throws Exception {
    try (SlowDownRelay relay = new SlowDownRelay(server.endpoint().getPort(), n -> true);
        S3Client retrying = through(relay)) {
      S3RequestException e =
          assertThrows(
              S3RequestException.class, () -> S3RangeSource.open(retrying, at("retry/none")));
      assertEquals(Reason.FAILED, e.reason());
      assertEquals(
          "s3://images/retry/none: the store answered 503 SlowDown: Please reduce your request rate.",
          e.getMessage());
      assertEquals(3, relay.connections.get(), "three attempts in all");
    }
  }
}
