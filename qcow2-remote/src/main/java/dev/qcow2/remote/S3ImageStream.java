package dev.qcow2.remote;

import dev.qcow2.convert.ImageStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * An image converted straight into an S3 object ({@code s3://BUCKET/KEY}): an {@link ImageStream}
 * over an {@link S3Upload} whose part 1 is held back, so that a qcow2 writer may send its head
 * (header and tables) last and a compressed image needs one pass. Parts go up in parallel from a
 * bounded number of buffers.
 *
 * <p>Nothing appears under the key before {@link #finish}. Closed without it, on a failure or an
 * interrupt, the multipart upload is aborted. While the stream is open a shutdown hook does the
 * same on SIGINT or SIGTERM. A SIGKILL leaves an unfinished multipart upload, which is not an
 * object.
 */
public final class S3ImageStream implements ImageStream {
  private final S3Upload upload;
  private final String name;
  private final Thread hook;
  private final int headCapacity;

  private S3ImageStream(S3Upload upload, String name, int headCapacity) {
    this.upload = upload;
    this.name = name;
    this.headCapacity = headCapacity;
    this.hook = new Thread(this::onShutdown, "s3-upload-abort");
  }

  /**
   * Opens an upload to {@code name} ({@code s3://BUCKET/KEY}) with the shared client configured
   * from the environment; {@code expectedLength} (or -1) chooses the part size so that the object
   * fits S3's 10,000 parts.
   */
  public static S3ImageStream open(String name, long expectedLength, int threads)
      throws IOException {
    S3UploadOptions options =
        S3UploadOptions.builder()
            .expectedLength(expectedLength)
            .threads(Math.max(1, Math.min(threads, 8)))
            .holdFirstPart(true)
            .build();
    return open(S3Clients.shared(), S3Location.parse(name), options);
  }

  /** Opens an upload with {@code client} (the caller's) and {@code options}, part 1 held back. */
  public static S3ImageStream open(S3Client client, S3Location target, S3UploadOptions options)
      throws IOException {
    if (!options.holdFirstPart()) {
      throw new IllegalArgumentException("an image stream holds part 1 back for its head");
    }
    S3ImageStream stream =
        new S3ImageStream(
            S3Upload.start(client, target, options), target.toString(), options.firstPartSize());
    Runtime.getRuntime().addShutdownHook(stream.hook);
    return stream;
  }

  @Override
  public void write(ByteBuffer bytes) throws IOException {
    upload.write(bytes);
  }

  @Override
  public long headCapacity() {
    return headCapacity;
  }

  /** Part 1 starts with {@code length} zero bytes, which {@link #writeHead} overwrites. */
  @Override
  public void deferHead(long length) throws IOException {
    if (length < 0 || length > headCapacity || upload.written() != 0) {
      throw new IllegalStateException("a head of " + length + " bytes cannot be deferred here");
    }
    upload.write(ByteBuffer.allocate((int) length));
  }

  @Override
  public void writeHead(ByteBuffer head) throws IOException {
    upload.writeHead(head);
  }

  @Override
  public void finish() throws IOException {
    upload.finish();
  }

  @Override
  public void close() throws IOException {
    try {
      upload.close();
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // The hook is running, and aborts unless the upload was finished.
      }
    }
  }

  /**
   * SIGINT or SIGTERM while uploading: the upload is aborted from the hook, the writer left to run
   * until the process halts (an interrupt in the middle of a request could lose the id of an upload
   * the store has just begun).
   */
  private void onShutdown() {
    try {
      upload.abortAtExit();
    } catch (IOException | RuntimeException e) {
      System.err.println(name + ": could not abort the upload: " + e.getMessage());
    }
  }
}
