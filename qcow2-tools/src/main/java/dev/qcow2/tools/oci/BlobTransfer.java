package dev.qcow2.tools.oci;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.function.LongConsumer;
import java.util.function.Supplier;

/**
 * Blob uploads and downloads, as the distribution specification orders them.
 *
 * <p>Upload: {@code POST /blobs/uploads/} opens a session whose {@code Location} takes the data. A
 * blob that fits in one chunk goes in the closing {@code PUT ?digest=} (monolithic); a larger one
 * goes in order as {@code PATCH}es with {@code Content-Range: start-end}, each answered with the
 * session's next {@code Location}, then an empty closing {@code PUT ?digest=}. The sha256 is
 * computed on the way, so a file is read once; memory is one chunk. A session that fails on the
 * registry's side is abandoned and the upload starts over, a bounded number of times.
 *
 * <p>Download: the bytes go to {@code <target>.part}, hashed on the way and never more than the
 * descriptor's size; the file takes its name only when size and digest match, else it is deleted
 * and the error says so.
 */
final class BlobTransfer {
  /** Chunk size of uploads, and the largest blob sent monolithically. */
  static final int CHUNK = 16 << 20;

  private static final int UPLOAD_ATTEMPTS = 3;
  private static final String OCTETS = "application/octet-stream";

  private final RegistryClient client;
  private final int chunk;

  BlobTransfer(RegistryClient client, int chunk) {
    this.client = client;
    this.chunk = chunk;
  }

  Descriptor push(byte[] bytes, String mediaType) throws OciException {
    Descriptor d = Descriptor.of(mediaType, bytes);
    if (client.blobExists(d.digest())) {
      return d;
    }
    for (int attempt = 1; ; attempt++) {
      try {
        URI session = open();
        close(session, d.digest(), () -> HttpRequest.BodyPublishers.ofByteArray(bytes));
        return d;
      } catch (OciException e) {
        if (e.kind() != OciException.Kind.UNAVAILABLE || attempt == UPLOAD_ATTEMPTS) {
          throw e;
        }
      }
    }
  }

  Descriptor push(Path file, String mediaType, LongConsumer progress) throws OciException {
    for (int attempt = 1; ; attempt++) {
      try {
        return pushOnce(file, mediaType, progress);
      } catch (OciException e) {
        if (e.kind() != OciException.Kind.UNAVAILABLE || attempt == UPLOAD_ATTEMPTS) {
          throw e;
        }
      }
    }
  }

  private Descriptor pushOnce(Path file, String mediaType, LongConsumer progress)
      throws OciException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long size = ch.size();
      if (size <= chunk) {
        byte[] all = new byte[(int) size];
        ByteBuffer b = ByteBuffer.wrap(all);
        while (b.hasRemaining() && ch.read(b) >= 0) {
          // fill
        }
        if (b.hasRemaining()) {
          throw new OciException(OciException.Kind.INVALID, file + " shrank while being read");
        }
        Descriptor d = push(all, mediaType);
        if (progress != null) {
          progress.accept(size);
        }
        return d;
      }
      MessageDigest md = Digest.newSha256();
      URI session = open();
      byte[] buf = new byte[chunk];
      long sent = 0;
      while (true) {
        int n = fill(ch, buf);
        if (n == 0) {
          break;
        }
        md.update(buf, 0, n);
        session = patch(session, buf, n, sent);
        sent += n;
        if (progress != null) {
          progress.accept(sent);
        }
      }
      if (sent != size) {
        throw new OciException(
            OciException.Kind.INVALID,
            file + " changed size while being sent (" + size + " then " + sent + " bytes)");
      }
      Digest digest = Digest.of(md);
      close(session, digest, HttpRequest.BodyPublishers::noBody);
      return new Descriptor(mediaType, digest, size);
    } catch (OciException e) {
      throw e;
    } catch (IOException e) {
      throw new OciException(
          OciException.Kind.INVALID, "cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  private static int fill(FileChannel ch, byte[] buf) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(buf);
    while (b.hasRemaining() && ch.read(b) >= 0) {
      // a short read is not the end of the file
    }
    return b.position();
  }

  private URI open() throws OciException {
    HttpResponse<InputStream> r =
        client.send("POST", client.path("blobs/uploads/"), null, null, true, false, "blob upload");
    client.expect(r, 202, "blob upload");
    RegistryClient.close(r);
    return location(r);
  }

  private URI patch(URI session, byte[] buf, int n, long offset) throws OciException {
    HttpResponse<InputStream> r =
        client.send(
            "PATCH",
            session,
            OCTETS,
            () -> HttpRequest.BodyPublishers.ofByteArray(buf, 0, n),
            true,
            false,
            "blob upload chunk at " + offset);
    client.expect(r, 202, "blob upload chunk at " + offset);
    RegistryClient.close(r);
    return location(r);
  }

  /** Sends the closing {@code PUT ?digest=}; the registry checks the digest itself. */
  private void close(URI session, Digest digest, Supplier<HttpRequest.BodyPublisher> body)
      throws OciException {
    String s = session.toString();
    URI put = URI.create(s + (s.contains("?") ? "&" : "?") + "digest=" + digest);
    HttpResponse<InputStream> r =
        client.send("PUT", put, OCTETS, body, true, false, "blob " + digest);
    client.expect(r, 201, "blob " + digest);
    RegistryClient.close(r);
  }

  private URI location(HttpResponse<InputStream> r) throws OciException {
    String loc = r.headers().firstValue("Location").orElse(null);
    if (loc == null) {
      throw new OciException(
          OciException.Kind.INVALID, client.where() + ": upload answer without a Location");
    }
    return client.resolve(loc);
  }

  // ---- downloads

  void pull(Descriptor blob, Path target, LongConsumer progress) throws OciException {
    Path part = target.resolveSibling(target.getFileName() + ".part");
    boolean done = false;
    try {
      try (OutputStream out =
          Files.newOutputStream(
              part,
              StandardOpenOption.CREATE,
              StandardOpenOption.TRUNCATE_EXISTING,
              StandardOpenOption.WRITE)) {
        copy(blob, out, progress);
      }
      try (FileChannel ch = FileChannel.open(part, StandardOpenOption.WRITE)) {
        ch.force(true);
      }
      Files.move(part, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      done = true;
    } catch (OciException e) {
      throw e;
    } catch (IOException e) {
      throw new OciException(
          OciException.Kind.UNAVAILABLE,
          client.where() + ": blob " + blob.digest() + " to " + target + ": " + e.getMessage(),
          e);
    } finally {
      if (!done) {
        try {
          Files.deleteIfExists(part);
        } catch (IOException e) {
          // The part file is named for this blob and is truncated by the next attempt.
        }
      }
    }
  }

  /**
   * Writes the blob's bytes to {@code out}, checking its size as they arrive and its digest at the
   * end; on a failure the caller discards what {@code out} received.
   */
  void copy(Descriptor blob, OutputStream out, LongConsumer progress) throws IOException {
    HttpResponse<InputStream> r = get(blob);
    MessageDigest md = Digest.newSha256();
    long got = 0;
    try (InputStream in = r.body()) {
      byte[] buf = new byte[1 << 16];
      int n;
      while ((n = in.read(buf)) > 0) {
        got += n;
        if (got > blob.size()) {
          throw mismatch(blob, "more than its " + blob.size() + " bytes");
        }
        md.update(buf, 0, n);
        out.write(buf, 0, n);
        if (progress != null) {
          progress.accept(got);
        }
      }
    } catch (TimedBody.Stalled e) {
      throw new OciException(
          OciException.Kind.UNAVAILABLE,
          client.where()
              + ": blob "
              + blob.digest()
              + " stopped arriving after "
              + got
              + " bytes ("
              + e.getMessage()
              + "); nothing kept",
          e);
    }
    out.flush();
    check(blob, got, Digest.of(md));
  }

  byte[] fetch(Descriptor blob) throws OciException {
    if (blob.size() > RegistryClient.DOCUMENT_LIMIT) {
      throw new OciException(
          OciException.Kind.INVALID,
          client.where()
              + ": blob "
              + blob.digest()
              + " of "
              + blob.size()
              + " bytes is too large to read in memory");
    }
    HttpResponse<InputStream> r = get(blob);
    byte[] bytes =
        RegistryClient.readLimited(r, RegistryClient.DOCUMENT_LIMIT, "blob " + blob.digest());
    if (bytes.length > blob.size()) {
      throw mismatch(blob, "more than its " + blob.size() + " bytes");
    }
    check(blob, bytes.length, Digest.of(bytes));
    return bytes;
  }

  private HttpResponse<InputStream> get(Descriptor blob) throws OciException {
    HttpResponse<InputStream> r =
        client.send(
            "GET",
            client.path("blobs/" + blob.digest()),
            null,
            null,
            false,
            true,
            "blob " + blob.digest());
    client.expect(r, 200, "blob " + blob.digest());
    return r;
  }

  private void check(Descriptor blob, long got, Digest actual) throws OciException {
    if (got != blob.size()) {
      throw mismatch(blob, got + " bytes instead of " + blob.size());
    }
    if (!actual.equals(blob.digest())) {
      throw mismatch(blob, "bytes whose digest is " + actual);
    }
  }

  private OciException mismatch(Descriptor blob, String what) {
    return new OciException(
        OciException.Kind.DIGEST_MISMATCH,
        client.where() + ": blob " + blob.digest() + " was served with " + what + "; nothing kept");
  }
}
