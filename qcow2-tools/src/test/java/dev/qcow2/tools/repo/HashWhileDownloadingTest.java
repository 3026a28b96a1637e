package dev.qcow2.tools.repo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.testing.Qemu;
import dev.qcow2.testing.TestData;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link HashWhileDownloading}: the content hash of a qemu-made qcow2 image written to the part
 * file in pieces, as a download does, against the sha256 of qemu-img's raw conversion.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HashWhileDownloadingTest {
  private static final int MiB = 1 << 20;

  @TempDir Path dir;
  byte[] image;
  String content;

  @BeforeEach
  void image() throws Exception {
    TestData.writeRaw(dir.resolve("src.raw"), 24 * MiB, 5);
    Qemu.img(dir, "convert", "-c", "-O", "qcow2", "src.raw", "img.qcow2");
    Path raw = Qemu.toRaw(dir, "img.qcow2", "img.raw");
    image = Files.readAllBytes(dir.resolve("img.qcow2"));
    try (InputStream in = Files.newInputStream(raw)) {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[1 << 16];
      for (int n; (n = in.read(buf)) > 0; ) {
        md.update(buf, 0, n);
      }
      content = HexFormat.of().formatHex(md.digest());
    }
  }

  /** Appends the first {@code upTo} bytes of the image to {@code part} in small, slow pieces. */
  private Thread download(Path part, int upTo) {
    Thread t =
        new Thread(
            () -> {
              try (FileChannel ch = FileChannel.open(part, StandardOpenOption.WRITE)) {
                for (int at = 0; at < upTo; ) {
                  int n = Math.min(97 * 1024, upTo - at);
                  ch.write(ByteBuffer.wrap(image, at, n), at);
                  at += n;
                  Thread.sleep(1);
                }
              } catch (IOException | InterruptedException e) {
                throw new IllegalStateException(e);
              }
            });
    t.start();
    return t;
  }

  @Test
  void theHashOfAFileStillArrivingProvesItsContent() throws Exception {
    Path part = Files.createFile(dir.resolve("x.qcow2.part"));
    try (HashWhileDownloading h = HashWhileDownloading.start(part, image.length)) {
      assertNotNull(h);
      Thread t = download(part, image.length);
      t.join();
      assertTrue(h.proves(content));
    }
    part = Files.createFile(dir.resolve("y.qcow2.part"));
    try (HashWhileDownloading h = HashWhileDownloading.start(part, image.length)) {
      download(part, image.length).join();
      assertFalse(h.proves("0".repeat(64)), "another sha256 is not proven");
    }
  }

  @Test
  void aDownloadThatStopsShortProvesNothingAndStopsTheHash() throws Exception {
    Path part = Files.createFile(dir.resolve("x.qcow2.part"));
    try (HashWhileDownloading h = HashWhileDownloading.start(part, image.length)) {
      download(part, image.length / 2).join();
      assertFalse(h.proves(content), "half an image");
    }
    // The download failed: close() alone ends the waiting hash.
    Path other = Files.createFile(dir.resolve("y.qcow2.part"));
    HashWhileDownloading h = HashWhileDownloading.start(other, image.length);
    download(other, 4096).join();
    h.close();
  }

  @Test
  void aLengthThatIsNotTheFilesProvesNothing() throws Exception {
    Path part = Files.createFile(dir.resolve("x.qcow2.part"));
    try (HashWhileDownloading h = HashWhileDownloading.start(part, image.length - 1)) {
      download(part, image.length).join();
      assertFalse(h.proves(content));
    }
    assertEquals(image.length, Files.size(part));
  }

  @Test
  void aFileThatIsNotQcow2ProvesNothing() throws Exception {
    Path part = Files.createFile(dir.resolve("x.qcow2.part"));
    image = Files.readAllBytes(dir.resolve("src.raw"));
    try (HashWhileDownloading h = HashWhileDownloading.start(part, image.length)) {
      download(part, image.length).join();
      assertFalse(h.proves(content));
    }
  }
}
