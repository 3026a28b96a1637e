package dev.qcow2.tools;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.HexFormat;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The servers {@link CdsTraining} reads remote images from, so that the classes of the http:// and
 * s3:// paths (java.net.http, the AWS SDK: most of a remote command's start) are archived too: a
 * web server with range requests for one object, and just enough of S3's path-style API on the same
 * loopback port (HeadObject, ranged GetObject, PutObject and a multipart upload, with the XML S3
 * answers) for the SDK to take its ordinary paths. It stores nothing: an upload's bytes are only
 * hashed, for the ETag S3 would give. Every body it reads is bounded; it serves only this process's
 * own training.
 */
final class CdsTrainingServer implements AutoCloseable {
  /** The bucket of the fake S3 store: {@code s3://training/KEY}. */
  static final String BUCKET = "training";

  /** The object's key, and its path on the web server. */
  static final String KEY = "a.qcow2";

  /** The training's parts are 5 MiB, S3's minimum; anything larger is not the training's. */
  private static final int MAX_BODY = 16 << 20;

  private static final Pattern RANGE = Pattern.compile("bytes=(\\d{1,18})-(\\d{0,18})");
  private static final String LAST_MODIFIED = "Tue, 01 Dec 2026 12:00:00 GMT";
  private static final String XML_HEAD = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  private static final String S3_NS = " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

  private final HttpServer server;
  private final byte[] object;
  private final String etag;
  private final AtomicInteger ranges = new AtomicInteger();
  private final AtomicInteger parts = new AtomicInteger();
  private final AtomicInteger puts = new AtomicInteger();
  private final AtomicInteger completed = new AtomicInteger();
  private final AtomicInteger uploadIds = new AtomicInteger();

  private CdsTrainingServer(HttpServer server, byte[] object) {
    this.server = server;
    this.object = object;
    this.etag = "\"" + HexFormat.of().formatHex(md5().digest(object)) + "\"";
  }

  /** Serves {@code object} at {@code /a.qcow2} and as {@code s3://training/a.qcow2}. */
  static CdsTrainingServer start(byte[] object) throws IOException {
    HttpServer server =
        HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    CdsTrainingServer training = new CdsTrainingServer(server, object);
    server.createContext("/", training::handle);
    // The default executor is the server's own thread: one request at a time is plenty here.
    server.start();
    return training;
  }

  /** {@code http://127.0.0.1:PORT}: the web server's root and the S3 endpoint. */
  URI endpoint() {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
  }

  /** Ranged reads of the object answered with 206. */
  int ranges() {
    return ranges.get();
  }

  /** Objects stored with PutObject. */
  int puts() {
    return puts.get();
  }

  /** Parts received by UploadPart. */
  int parts() {
    return parts.get();
  }

  /** Multipart uploads completed. */
  int completed() {
    return completed.get();
  }

  @Override
  public void close() {
    server.stop(0);
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      String path = ex.getRequestURI().getPath();
      String query =
          ex.getRequestURI().getRawQuery() == null ? "" : ex.getRequestURI().getRawQuery();
      String method = ex.getRequestMethod();
      boolean read = method.equals("GET") || method.equals("HEAD");
      if (read && query.isEmpty() && (path.equals("/" + KEY) || path.equals(objectPath(KEY)))) {
        serveObject(ex);
      } else if (path.startsWith(objectPath(""))) {
        s3(ex, method, path.substring(objectPath("").length()), query);
      } else {
        reply(ex, 404, "text/plain", "not found\n");
      }
    }
  }

  private static String objectPath(String key) {
    return "/" + BUCKET + "/" + key;
  }

  /** As a web server or S3 answers: the whole object, or one range of it with 206. */
  private void serveObject(HttpExchange ex) throws IOException {
    Headers h = ex.getResponseHeaders();
    h.set("ETag", etag);
    h.set("Last-Modified", LAST_MODIFIED);
    h.set("Accept-Ranges", "bytes");
    String ifMatch = ex.getRequestHeaders().getFirst("If-Match");
    if (ifMatch != null && !ifMatch.equals(etag) && !ifMatch.equals("*")) {
      error(ex, 412, "PreconditionFailed", "the ETag does not match");
      return;
    }
    long length = object.length;
    long first = 0;
    long last = length - 1;
    int status = 200;
    String range = ex.getRequestHeaders().getFirst("Range");
    if (range != null) {
      Matcher m = RANGE.matcher(range.strip());
      first = m.matches() ? Long.parseLong(m.group(1)) : -1;
      if (first < 0 || first >= length) {
        h.set("Content-Range", "bytes */" + length);
        error(ex, 416, "InvalidRange", "the range is not satisfiable");
        return;
      }
      if (!m.group(2).isEmpty()) {
        last = Math.min(last, Long.parseLong(m.group(2)));
      }
      if (last < first) {
        h.set("Content-Range", "bytes */" + length);
        error(ex, 416, "InvalidRange", "the range is not satisfiable");
        return;
      }
      status = 206;
      h.set("Content-Range", "bytes " + first + "-" + last + "/" + length);
      ranges.incrementAndGet();
    }
    int count = (int) (last - first + 1);
    h.set("Content-Type", "application/octet-stream");
    if (ex.getRequestMethod().equals("HEAD")) {
      // -1: no body; the server warns when given a length for HEAD, so the header is set here.
      h.set("Content-Length", Long.toString(count));
      ex.sendResponseHeaders(status, -1);
      return;
    }
    ex.sendResponseHeaders(status, count);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(object, (int) first, count);
    }
  }

  /** The calls of an upload, path-style: PutObject and the multipart upload's four. */
  private void s3(HttpExchange ex, String method, String key, String query) throws IOException {
    if (key.isEmpty()) {
      error(ex, 501, "NotImplemented", "bucket operations are not served");
      return;
    }
    boolean post = method.equals("POST");
    if (method.equals("GET") || method.equals("HEAD")) {
      error(ex, 404, "NoSuchKey", "the training store holds only " + KEY);
    } else if (post && query.equals("uploads")) {
      drain(ex);
      String id = "training-" + uploadIds.incrementAndGet();
      reply(
          ex,
          200,
          "application/xml",
          XML_HEAD
              + "<InitiateMultipartUploadResult"
              + S3_NS
              + "><Bucket>"
              + BUCKET
              + "</Bucket><Key>"
              + xml(key)
              + "</Key><UploadId>"
              + id
              + "</UploadId></InitiateMultipartUploadResult>");
    } else if (method.equals("PUT")) {
      byte[] md5 = drain(ex);
      if (md5 == null) {
        return;
      }
      String sent = ex.getRequestHeaders().getFirst("Content-MD5");
      if (sent != null && !sent.equals(Base64.getEncoder().encodeToString(md5))) {
        error(ex, 400, "BadDigest", "the Content-MD5 does not match the body");
        return;
      }
      (query.contains("uploadId=") ? parts : puts).incrementAndGet();
      ex.getResponseHeaders().set("ETag", "\"" + HexFormat.of().formatHex(md5) + "\"");
      reply(ex, 200, null, "");
    } else if (post && query.startsWith("uploadId=")) {
      byte[] md5 = drain(ex);
      if (md5 == null) {
        return;
      }
      completed.incrementAndGet();
      reply(
          ex,
          200,
          "application/xml",
          XML_HEAD
              + "<CompleteMultipartUploadResult"
              + S3_NS
              + "><Location>"
              + endpoint()
              + objectPath(xml(key))
              + "</Location><Bucket>"
              + BUCKET
              + "</Bucket><Key>"
              + xml(key)
              + "</Key><ETag>&quot;"
              + HexFormat.of().formatHex(md5)
              + "-1&quot;</ETag></CompleteMultipartUploadResult>");
    } else if (method.equals("DELETE") && query.startsWith("uploadId=")) {
      reply(ex, 204, null, "");
    } else {
      error(ex, 501, "NotImplemented", method + " " + query + " is not served");
    }
  }

  /**
   * Reads the request body, at most {@link #MAX_BODY} bytes, and returns its MD5; null when it was
   * longer, after answering 400 as S3 does.
   */
  private static byte[] drain(HttpExchange ex) throws IOException {
    MessageDigest md5 = md5();
    byte[] buffer = new byte[64 << 10];
    long total = 0;
    try (InputStream in = ex.getRequestBody()) {
      for (int n; (n = in.read(buffer)) > 0; ) {
        total += n;
        if (total > MAX_BODY) {
          error(ex, 400, "EntityTooLarge", "the training sends no body this large");
          return null;
        }
        md5.update(buffer, 0, n);
      }
    }
    return md5.digest();
  }

  private static void error(HttpExchange ex, int status, String code, String message)
      throws IOException {
    reply(
        ex,
        status,
        "application/xml",
        XML_HEAD
            + "<Error><Code>"
            + code
            + "</Code><Message>"
            + xml(message)
            + "</Message><RequestId>training</RequestId></Error>");
  }

  private static void reply(HttpExchange ex, int status, String type, String body)
      throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    if (type != null) {
      ex.getResponseHeaders().set("Content-Type", type);
    }
    boolean head = ex.getRequestMethod().equals("HEAD");
    // -1 is the server's word for no body: a 204, an empty 200, any answer to HEAD.
    ex.sendResponseHeaders(status, bytes.length == 0 || head || status == 204 ? -1 : bytes.length);
    if (bytes.length > 0 && !head && status != 204) {
      try (OutputStream out = ex.getResponseBody()) {
        out.write(bytes);
      }
    }
  }

  private static String xml(String text) {
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
  }

  private static MessageDigest md5() {
    try {
      return MessageDigest.getInstance("MD5");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JVM has MD5", e);
    }
  }
}
