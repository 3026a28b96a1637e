package dev.qcow2.tools.repo;

import dev.qcow2.remote.S3Clients;
import dev.qcow2.remote.S3Location;
import dev.qcow2.remote.S3RequestException;
import dev.qcow2.remote.S3Upload;
import dev.qcow2.remote.S3UploadOptions;
import dev.qcow2.tools.cli.ProgressBar;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;

/**
 * A repository folder in an S3-compatible store, {@code s3://BUCKET/PREFIX}: the same objects as a
 * published Cangallo folder ({@code index.yaml}, {@code <sha256>.qcow2} with relative backing
 * names), so the bucket served over HTTP is a plain Cangallo remote, plus the index fragments of
 * {@link S3RemoteIndex} that let concurrent pushes lose nothing.
 *
 * <p>An image object carries its sha256 as metadata ({@code x-amz-meta-sha256}); a push skips an
 * object already there with the same size and sha256. Uploads are multipart with parts in parallel
 * ({@link S3Upload}): nothing appears under the image's key before the upload completes, and an
 * interrupted push (an error, an interrupt, SIGTERM or Ctrl-C) aborts its upload.
 */
final class S3Remote implements Remote {
  private static final String SHA256_METADATA = "sha256";
  private static final int UPLOAD_THREADS = 4;

  private final S3Client client;
  private final S3Location folder;
  private final S3RemoteIndex index;

  private S3Remote(S3Client client, S3Location folder) {
    this.client = client;
    this.folder = folder;
    this.index = new S3RemoteIndex(client, folder);
  }

  /** The remote at {@code url}, with a client of its own configured from {@code env}. */
  static S3Remote open(String url, Map<String, String> env) throws IOException {
    S3Location folder = S3Location.parse(url.endsWith("/") ? url : url + "/");
    return new S3Remote(S3Clients.create(env), folder);
  }

  @Override
  public String url() {
    return folder.toString();
  }

  @Override
  public boolean writable() {
    return true;
  }

  @Override
  public String fetchIndex() throws IOException {
    S3RemoteIndex.State s = index.read();
    // index.yaml as it is when it is complete, so that its signature still applies.
    return s.indexComplete() ? s.indexText() : s.union().toYaml();
  }

  @Override
  public byte[] fetchOptional(String name) throws IOException {
    return index.get(name);
  }

  @Override
  public void pull(Repository repo, ImageEntry entry, PrintStream progress) throws IOException {
    S3Location at = imageObject(entry.sha256());
    VerifiedDownload.pull(repo, entry, (ch, p) -> download(at, ch, p), progress);
  }

  private void download(S3Location at, FileChannel ch, PrintStream progress) throws IOException {
    HeadObjectResponse head = head(at);
    if (head == null) {
      throw new S3RequestException(
          at.toString(),
          S3RequestException.Reason.NO_SUCH_OBJECT,
          "no such object (the index names an image whose file is not in the store)");
    }
    long length = head.contentLength();
    long have = ch.size();
    if (have > length) {
      ch.truncate(0);
      have = 0;
    }
    if (have == length) {
      return; // complete already: verification decides
    }
    long from = have;
    // If-Match: a resumed file is only ever continued with the bytes of the same object.
    try (ResponseInputStream<GetObjectResponse> in =
        client.getObject(
            b ->
                b.bucket(at.bucket())
                    .key(at.key())
                    .range("bytes=" + from + "-")
                    .ifMatch(head.eTag()))) {
      ch.position(from);
      VerifiedDownload.copy(in, ch, from, length, progress);
    } catch (SdkException e) {
      throw S3RequestException.of(client, at, e);
    }
  }

  @Override
  public boolean push(Path file, ImageEntry entry, PrintStream progress) throws IOException {
    S3Location target = imageObject(entry.sha256());
    long size = Files.size(file);
    HeadObjectResponse head = head(target);
    if (head != null
        && head.contentLength() == size
        && entry.sha256().equals(head.metadata().get(SHA256_METADATA))) {
      return false;
    }
    S3UploadOptions options =
        S3UploadOptions.builder()
            .expectedLength(size)
            .threads(UPLOAD_THREADS)
            .metadata(SHA256_METADATA, entry.sha256())
            .build();
    // SIGTERM and Ctrl-C run shutdown hooks but interrupt no thread: this one interrupts the
    // upload's thread, on which S3Upload aborts, and waits for that abort.
    Thread pusher = Thread.currentThread();
    CountDownLatch settled = new CountDownLatch(1);
    Thread hook =
        new Thread(
            () -> {
              pusher.interrupt();
              try {
                settled.await(2, TimeUnit.MINUTES);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            });
    Runtime.getRuntime().addShutdownHook(hook);
    try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ);
        S3Upload upload = S3Upload.start(client, target, options)) {
      upload(in, upload, progress == null ? null : new ProgressBar(progress, size));
    } finally {
      settled.countDown();
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // the hook is running: it only waited for this
      }
    }
    return true;
  }

  private static void upload(FileChannel in, S3Upload upload, ProgressBar bar) throws IOException {
    ByteBuffer buf = ByteBuffer.allocate(1 << 20);
    while (in.read(buf) >= 0) {
      buf.flip();
      upload.write(buf);
      buf.clear();
      if (bar != null) {
        bar.accept(upload.written());
      }
    }
    upload.finish();
    if (bar != null) {
      bar.finish();
    }
  }

  @Override
  public void publish(List<ImageEntry> entries, Map<String, String> tags) throws IOException {
    index.add(entries, tags);
  }

  @Override
  public boolean delete(String sha256) throws IOException {
    RepositoryIndex current = index.read().union();
    if (current.image(sha256) == null) {
      return false;
    }
    List<String> children = current.children(sha256);
    if (!children.isEmpty()) {
      throw new CangaException(
          "Image "
              + sha256
              + " is the parent of "
              + String.join(", ", children)
              + " in "
              + url()
              + "; delete them first");
    }
    // The index first: a failure in between leaves an unlisted object, never a listed missing one.
    index.remove(Set.of(sha256), Set.copyOf(current.tagsOf(sha256)));
    index.delete(sha256 + ".qcow2");
    return true;
  }

  @Override
  public void tag(String tag, String sha256) throws IOException {
    if (index.read().union().image(sha256) == null) {
      throw new CangaException("Image " + sha256 + " is not in " + url());
    }
    index.add(List.of(), Map.of(tag, sha256));
  }

  @Override
  public void deltag(String tag) throws IOException {
    if (!index.read().union().tags().containsKey(tag)) {
      throw new CangaException("Tag \"" + tag + "\" is not in " + url());
    }
    index.remove(Set.of(), Set.of(tag));
  }

  @Override
  public void store(String name, byte[] content) throws IOException {
    index.put(name, content);
  }

  private S3Location imageObject(String sha256) throws IOException {
    return folder.resolve(sha256 + ".qcow2");
  }

  /** The object's metadata, or null if there is no such object. */
  private HeadObjectResponse head(S3Location at) throws IOException {
    return S3RemoteIndex.orNull(
        client, at, () -> client.headObject(b -> b.bucket(at.bucket()).key(at.key())));
  }

  @Override
  public void close() {
    client.close();
  }
}
