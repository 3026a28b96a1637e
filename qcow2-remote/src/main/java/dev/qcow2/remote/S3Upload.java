package dev.qcow2.remote;

import dev.qcow2.remote.S3RequestException.Reason;
import java.io.ByteArrayInputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.MultipartUpload;

/**
 * Writes one object to an S3-compatible store from a forward-only stream, as a multipart upload
 * whose parts go up in parallel while the writer goes on, with bounded memory (see {@link
 * S3UploadOptions}); no scratch file.
 *
 * <p>Part 1 can be sent last ({@link S3UploadOptions.Builder#holdFirstPart}): its bytes stay in
 * memory until {@link #finish()}, and {@link #writeHead} may overwrite them until then, so that a
 * qcow2 writer patches its header and tables after the data. An object that fits in its first part
 * is sent with one PutObject instead, and no multipart upload is ever started for it.
 *
 * <p>Nothing appears under the key before {@link #finish()} completes the upload. On any failure,
 * on an interrupt of the writing thread, or on {@link #close()} before {@code finish()}, the
 * multipart upload is aborted, so that neither an object nor an unfinished upload is left. A
 * process killed mid-upload leaves an unfinished upload, which is not an object (readers see
 * nothing under the key) and which {@link #abortUnfinished} removes.
 *
 * <p>Not thread-safe: one thread writes and finishes. Every part carries its Content-MD5, so a part
 * damaged on the way is refused by the store.
 */
public final class S3Upload implements Closeable {
  private enum State {
    OPEN,
    DONE,
    ABORTED
  }

  private final S3Client client;
  private final S3Location target;
  private final S3UploadOptions options;
  private final ExecutorService pool;

  /** One permit per part buffer (after the first) that may exist at once. */
  private final Semaphore buffers;

  private final ConcurrentLinkedQueue<byte[]> free = new ConcurrentLinkedQueue<>();
  private final Map<Integer, String> etags = new ConcurrentSkipListMap<>();
  private final List<Future<?>> sending = new ArrayList<>();
  private final AtomicReference<Throwable> failure = new AtomicReference<>();

  /** Part 1 when held back, once full. */
  private byte[] head;

  /** The part being filled, its number and how much of it is filled. */
  private byte[] current;

  private int part = 1;
  private int fill;
  private long written;

  /** Set by the writer; read by {@link #abortAtExit} from a shutdown hook. */
  private volatile String uploadId;

  /** While the writer asks the store for an upload id. */
  private volatile boolean creating;

  private int sent;

  /** Part buffers (after the first) allocated so far, for the tests of the memory bound. */
  private int allocated;

  private State state = State.OPEN;

  private S3Upload(S3Client client, S3Location target, S3UploadOptions options) {
    this.client = client;
    this.target = target;
    this.options = options;
    this.buffers = new Semaphore(options.bufferedParts());
    AtomicInteger n = new AtomicInteger();
    this.pool =
        Executors.newFixedThreadPool(
            options.threads(),
            r -> {
              Thread t = new Thread(r, "s3-upload-" + n.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
  }

  /** Starts an upload to {@code target}; nothing is sent until the first part is full. */
  public static S3Upload start(S3Client client, S3Location target, S3UploadOptions options)
      throws IOException {
    if (!target.isObject()) {
      throw new S3RequestException(
          target.toString(), Reason.FAILED, "names a folder, not an object");
    }
    return new S3Upload(client, target, options);
  }

  /** Puts a small object with one request: below 5 MiB a multipart upload is not possible. */
  public static void put(
      S3Client client, S3Location target, ByteBuffer content, Map<String, String> metadata)
      throws IOException {
    if (content.remaining() > S3UploadOptions.MAX_PART_SIZE) {
      throw new IllegalArgumentException("a single put takes at most 1 GiB; use start()");
    }
    byte[] bytes = new byte[content.remaining()];
    content.get(bytes);
    put(client, target, bytes, bytes.length, metadata);
  }

  private static void put(
      S3Client client, S3Location target, byte[] bytes, int length, Map<String, String> metadata)
      throws S3RequestException {
    try {
      client.putObject(
          b ->
              b.bucket(target.bucket())
                  .key(target.key())
                  .metadata(metadata)
                  .contentLength((long) length)
                  .contentMD5(md5(bytes, length)),
          body(bytes, length));
    } catch (SdkException e) {
      throw S3Errors.translate(client, target, e);
    }
  }

  /** The bytes written so far. */
  public long written() {
    return written;
  }

  /** Appends {@code src} to the object. */
  public void write(ByteBuffer src) throws IOException {
    checkOpen();
    try {
      while (src.hasRemaining()) {
        if (current == null || (part == 1 && fill == current.length)) {
          current = nextBuffer();
        }
        int n = Math.min(src.remaining(), current.length - fill);
        src.get(current, fill, n);
        fill += n;
        written += n;
        if (fill == partLength(part)) {
          partFilled();
        }
      }
    } catch (IOException | RuntimeException e) {
      abortAfter(e);
      throw e;
    }
  }

  /**
   * Overwrites the first {@code src.remaining()} bytes of the object, which must have been written
   * already and lie in the held first part.
   */
  public void writeHead(ByteBuffer src) throws IOException {
    checkOpen();
    if (!src.hasRemaining()) {
      return;
    }
    byte[] first = part == 1 ? current : head;
    long inFirst = Math.min(written, options.firstPartSize());
    if (!options.holdFirstPart() || src.remaining() > inFirst) {
      throw new IllegalStateException(
          !options.holdFirstPart()
              ? "the first part is not held back (S3UploadOptions.holdFirstPart)"
              : "a head of "
                  + src.remaining()
                  + " bytes is longer than the "
                  + inFirst
                  + " bytes of part 1 written so far");
    }
    src.get(first, 0, src.remaining());
  }

  /**
   * Sends what is left and completes the upload: the object then appears under the key, whole. On
   * failure the upload is aborted.
   */
  public void finish() throws IOException {
    checkOpen();
    try {
      checkFailure();
      if (uploadId == null && (part == 1 || fill == 0)) {
        // Everything is in part 1: one PutObject, no multipart upload.
        byte[] only = part == 1 ? current : head;
        put(
            client,
            target,
            only == null ? new byte[0] : only,
            part == 1 ? fill : head.length,
            options.metadata());
      } else {
        if (fill > 0) {
          send(part, current, fill, part > 1);
          current = null;
        }
        if (options.holdFirstPart()) {
          send(1, head, head.length, false);
        }
        waitForParts();
        complete();
      }
      state = State.DONE;
      release();
    } catch (IOException | RuntimeException e) {
      abortAfter(e);
      throw e;
    }
  }

  /**
   * Abandons the upload: stops the part uploads and aborts the multipart upload, so that the store
   * keeps neither an object nor the parts.
   */
  public void abort() throws IOException {
    if (state != State.OPEN) {
      return;
    }
    state = State.ABORTED;
    // An interrupt is often why we abort; the SDK would refuse to send the abort while the flag is
    // set, so it is cleared for the clean-up and set again after.
    boolean interrupted = Thread.interrupted();
    try {
      // Parts not yet begun are dropped; a part in flight is let finish (within the client's
      // socket timeout), not interrupted: a body cut off mid-transfer may be kept by the store as a
      // broken part (s3proxy's file store then fails every later listing), and aborting before the
      // part ends could let it add a part to an upload that is gone.
      for (Future<?> f : sending) {
        f.cancel(false);
      }
      pool.shutdown();
      boolean stopped = pool.awaitTermination(2, TimeUnit.MINUTES);
      release();
      abortMultipart();
      if (!stopped) {
        throw new S3RequestException(
            target.toString(),
            Reason.FAILED,
            "aborted, but a part upload had not stopped after 2 minutes");
      }
    } catch (SdkException e) {
      throw S3Errors.translate(client, target, e);
    } catch (InterruptedException e) {
      interrupted = true;
      throw new InterruptedIOException(target + ": interrupted while aborting the upload");
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * The process is exiting (a shutdown hook): the multipart upload is aborted now, from this
   * thread, without waiting for the writer or the parts in flight (they die with the process). Does
   * nothing once the upload is complete.
   */
  void abortAtExit() throws IOException {
    if (state == State.DONE) {
      return;
    }
    pool.shutdownNow();
    try {
      // The writer, left uninterrupted, learns the id of an upload being created within the
      // client's time-outs; an interrupt there could lose the id of an upload the store made.
      for (int i = 0; i < 600 && creating && uploadId == null; i++) {
        Thread.sleep(50);
      }
      abortMultipart();
    } catch (SdkException e) {
      throw S3Errors.translate(client, target, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException(target + ": interrupted while aborting the upload");
    }
  }

  /** Aborts the multipart upload, if one was begun. */
  private void abortMultipart() {
    String id = uploadId;
    if (id != null) {
      client.abortMultipartUpload(b -> b.bucket(target.bucket()).key(target.key()).uploadId(id));
    }
  }

  /** Aborts the upload unless it was finished. */
  @Override
  public void close() throws IOException {
    if (state == State.OPEN) {
      abort();
    }
    pool.shutdownNow();
  }

  /**
   * Aborts every unfinished multipart upload of {@code target}'s key, such as those of killed
   * processes.
   *
   * @return how many were aborted
   */
  public static int abortUnfinished(S3Client client, S3Location target) throws IOException {
    int aborted = 0;
    try {
      for (MultipartUpload u :
          client
              .listMultipartUploadsPaginator(b -> b.bucket(target.bucket()).prefix(target.key()))
              .uploads()) {
        if (u.key().equals(target.key())) {
          client.abortMultipartUpload(
              b -> b.bucket(target.bucket()).key(u.key()).uploadId(u.uploadId()));
          aborted++;
        }
      }
    } catch (SdkException e) {
      throw S3Errors.translate(client, target, e);
    }
    return aborted;
  }

  /** How many parts the store has acknowledged so far. */
  int partsUploaded() {
    return etags.size();
  }

  /** How many buffers for parts after the first were allocated. */
  int partBuffers() {
    return allocated;
  }

  /** Whether the store has acknowledged part {@code number}. */
  boolean acknowledged(int number) {
    return etags.containsKey(number);
  }

  private int partLength(int number) {
    return number == 1 ? options.firstPartSize() : options.partSize();
  }

  /**
   * The buffer for the part being filled. Part 1 grows from 256 KiB as it fills, so a small object
   * costs little; later parts wait for one of the bounded buffers.
   */
  private byte[] nextBuffer() throws IOException {
    if (part == 1) {
      int size =
          current == null
              ? Math.min(256 << 10, partLength(1))
              : Math.min(current.length * 2, partLength(1));
      byte[] grown = new byte[size];
      if (current != null) {
        System.arraycopy(current, 0, grown, 0, fill);
      }
      return grown;
    }
    if (part > options.maxParts()) {
      throw new S3RequestException(
          target.toString(),
          Reason.FAILED,
          "the object is longer than "
              + options.maxLength()
              + " bytes, the most "
              + options.maxParts()
              + " parts of "
              + options.partSize()
              + " bytes hold; give the expected length to choose larger parts");
    }
    try {
      buffers.acquire();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException(
          target + ": interrupted while waiting for a part to be sent");
    }
    checkFailure();
    byte[] b = free.poll();
    if (b == null) {
      b = new byte[options.partSize()];
      allocated++;
    }
    return b;
  }

  private void partFilled() throws IOException {
    if (part == 1 && options.holdFirstPart()) {
      head = current;
    } else {
      send(part, current, fill, part > 1);
    }
    current = null;
    fill = 0;
    part++;
  }

  /** Queues a part; {@code pooled} buffers go back to the pool when the part is sent. */
  private void send(int number, byte[] bytes, int length, boolean pooled) throws IOException {
    checkFailure();
    if (uploadId == null) {
      creating = true;
      try {
        uploadId =
            client
                .createMultipartUpload(
                    b -> b.bucket(target.bucket()).key(target.key()).metadata(options.metadata()))
                .uploadId();
      } catch (SdkException e) {
        throw S3Errors.translate(client, target, e);
      } finally {
        creating = false;
      }
    }
    String id = uploadId;
    sent++;
    sending.add(
        pool.submit(
            () -> {
              try {
                String etag =
                    client
                        .uploadPart(
                            b ->
                                b.bucket(target.bucket())
                                    .key(target.key())
                                    .uploadId(id)
                                    .partNumber(number)
                                    .contentLength((long) length)
                                    .contentMD5(md5(bytes, length)),
                            body(bytes, length))
                        .eTag();
                etags.put(number, etag);
              } catch (Throwable t) {
                failure.compareAndSet(null, t);
              } finally {
                if (pooled) {
                  free.add(bytes);
                  buffers.release();
                }
              }
            }));
    sending.removeIf(Future::isDone);
  }

  private void waitForParts() throws IOException {
    for (Future<?> f : sending) {
      try {
        f.get();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException(
            target + ": interrupted while waiting for the parts to be sent");
      } catch (ExecutionException e) {
        failure.compareAndSet(null, e.getCause());
      }
    }
    sending.clear();
    checkFailure();
    if (etags.size() != sent) {
      throw new S3RequestException(
          target.toString(),
          Reason.FAILED,
          "the store acknowledged " + etags.size() + " of " + sent + " parts");
    }
  }

  private void complete() throws IOException {
    List<CompletedPart> parts = new ArrayList<>();
    etags.forEach((n, etag) -> parts.add(CompletedPart.builder().partNumber(n).eTag(etag).build()));
    try {
      client.completeMultipartUpload(
          b ->
              b.bucket(target.bucket())
                  .key(target.key())
                  .uploadId(uploadId)
                  .multipartUpload(m -> m.parts(parts)));
    } catch (SdkException e) {
      throw S3Errors.translate(client, target, e);
    }
  }

  /** Rethrows the first failure of a part upload, typed. */
  private void checkFailure() throws IOException {
    Throwable t = failure.get();
    if (t == null) {
      return;
    }
    if (t instanceof SdkException e) {
      throw S3Errors.translate(client, target, e);
    }
    throw new S3RequestException(
        target.toString(), Reason.FAILED, "a part upload failed: " + S3Errors.rootMessage(t), t);
  }

  private void checkOpen() {
    if (state != State.OPEN) {
      throw new IllegalStateException(
          target + ": the upload is " + (state == State.DONE ? "finished" : "aborted"));
    }
  }

  /** Aborts after {@code e}, keeping any failure of the abort as suppressed in it. */
  private void abortAfter(Exception e) {
    try {
      abort();
    } catch (IOException | RuntimeException more) {
      e.addSuppressed(more);
    }
  }

  private void release() {
    pool.shutdown();
    head = null;
    current = null;
    free.clear();
  }

  private static RequestBody body(byte[] bytes, int length) {
    // A new stream over the same bytes for every attempt: retries resend without a copy.
    return RequestBody.fromContentProvider(
        () -> new ByteArrayInputStream(bytes, 0, length), length, "application/octet-stream");
  }

  private static String md5(byte[] bytes, int length) {
    try {
      MessageDigest md = MessageDigest.getInstance("MD5");
      md.update(bytes, 0, length);
      return Base64.getEncoder().encodeToString(md.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
