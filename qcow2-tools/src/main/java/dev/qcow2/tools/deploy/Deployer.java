package dev.qcow2.tools.deploy;

import dev.qcow2.DiskImage;
import dev.qcow2.convert.ConvertOptions;
import dev.qcow2.convert.ImageConverter;
import dev.qcow2.hash.ContentHasher;
import dev.qcow2.hash.HashAlgorithm;
import java.io.BufferedInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.compressors.bzip2.BZip2CompressorInputStream;
import org.tukaani.xz.XZInputStream;

/**
 * Writes a disk image onto a target, as Ganeti's instance-simpleimage does: a qcow2 image (with its
 * chain) converted natively, a raw disk copied, a gzip, bzip2 or xz raw disk decompressed on the
 * fly. On a file target runs of 4 KiB zeros stay holes; a block device is first zeroed with {@code
 * blkdiscard --zeroout} and then gets only its non-zero runs (every byte where that is not
 * possible). Then every executable in the hooks folder runs, in name order.
 */
public final class Deployer {
  private static final int BLOCK = 4096;
  private static final int CHUNK = 1 << 20;

  private Deployer() {}

  /** What was written: guest bytes, their sha256, and the source's type. */
  public record Result(long bytes, String sha256, ImageType type) {}

  /** A deploy that stopped: how far it got is in the message. */
  public static final class DeployException extends IOException {
    DeployException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /**
   * Writes {@code source} to {@code target}.
   *
   * @param type the source's type, or null to detect it from its first bytes
   * @param knownSha256 the disk's sha256 when known (a repository image's id), else null
   * @param progress called with source bytes consumed; may be null
   */
  public static Result deploy(
      Path source, ImageType type, Path target, String knownSha256, LongConsumer progress)
      throws IOException {
    ImageType t = type != null ? type : ImageType.detect(source);
    boolean device = Files.exists(target) && !Files.isRegularFile(target);
    // A device zeroed by blkdiscard --zeroout (discard or write-zeroes, as the device does it
    // best) needs only its non-zero runs written; otherwise every byte is.
    boolean zeroed = device && zeroOut(target);
    boolean sparse = !device || zeroed;
    long[] written = {0};
    try {
      if (t == ImageType.QCOW2) {
        try (DiskImage image = DiskImage.open(source)) {
          ImageConverter.convert(
              image,
              target,
              ConvertOptions.builder()
                  .targetFormat("raw")
                  .noCreate(device)
                  .targetIsZero(zeroed)
                  .minSparse(device && !zeroed ? 0 : BLOCK)
                  .progress(progress)
                  .build());
          written[0] = image.size();
          String sha =
              knownSha256 != null
                  ? knownSha256
                  : ContentHasher.hash(
                          image,
                          HashAlgorithm.SHA256,
                          Runtime.getRuntime().availableProcessors(),
                          null)
                      .hex();
          return new Result(image.size(), sha, t);
        }
      }
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      try (InputStream in = decoder(t, new Counting(Files.newInputStream(source), progress));
          RandomAccessFile file = new RandomAccessFile(target.toFile(), "rw")) {
        if (!device) {
          file.setLength(0);
        }
        FileChannel out = file.getChannel();
        byte[] buf = new byte[CHUNK];
        ByteBuffer wrapped = ByteBuffer.wrap(buf);
        int n;
        while ((n = in.readNBytes(buf, 0, CHUNK)) > 0) {
          md.update(buf, 0, n);
          ImageConverter.writeSparse(out, wrapped, n, written[0], sparse ? BLOCK : 0);
          written[0] += n;
        }
        if (!device) {
          file.setLength(written[0]);
        }
        out.force(true);
      }
      return new Result(written[0], HexFormat.of().formatHex(md.digest()), t);
    } catch (IOException | RuntimeException e) {
      String why = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
      throw new DeployException(
          "deploy of "
              + source
              + " ("
              + t.label()
              + ") to "
              + target
              + " failed after "
              + written[0]
              + " bytes were written: "
              + why,
          e);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Zeroes a whole block device with blkdiscard --zeroout; false if that is not possible here. */
  static boolean zeroOut(Path device) {
    try {
      Process p =
          new ProcessBuilder("blkdiscard", "--zeroout", device.toString())
              .redirectErrorStream(true)
              .redirectOutput(ProcessBuilder.Redirect.DISCARD)
              .start();
      return p.waitFor() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private static InputStream decoder(ImageType t, InputStream raw) throws IOException {
    InputStream in = new BufferedInputStream(raw, 1 << 16);
    return switch (t) {
      case RAW -> in;
      case RAW_GZ -> new GZIPInputStream(in, 1 << 16);
      case RAW_BZ2 -> new BZip2CompressorInputStream(in, true);
      case RAW_XZ -> new XZInputStream(in);
      default -> throw new IllegalArgumentException(t.label());
    };
  }

  /**
   * Runs every executable regular file in {@code hooks}, in name order, with the deploy's facts in
   * its environment; its output goes to {@code out}.
   *
   * @throws DeployException naming the first hook that fails and its exit code
   */
  public static void runHooks(Path hooks, Map<String, String> facts, PrintStream out)
      throws IOException {
    if (hooks == null) {
      return;
    }
    if (!Files.isDirectory(hooks)) {
      throw new DeployException("hooks folder " + hooks + " does not exist", null);
    }
    List<Path> scripts = new ArrayList<>();
    try (var list = Files.list(hooks)) {
      list.filter(p -> Files.isRegularFile(p) && Files.isExecutable(p))
          .sorted()
          .forEach(scripts::add);
    }
    for (Path script : scripts) {
      ProcessBuilder pb = new ProcessBuilder(script.toString()).redirectErrorStream(true);
      pb.environment().putAll(facts);
      Process p = pb.start();
      try (InputStream in = p.getInputStream()) {
        in.transferTo(out);
      }
      int code;
      try {
        code = p.waitFor();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        p.destroyForcibly();
        throw new DeployException("hook " + script.getFileName() + " interrupted", e);
      }
      out.flush();
      if (code != 0) {
        throw new DeployException(
            "hook " + script.getFileName() + " failed with exit code " + code, null);
      }
    }
  }

  /** Counts the bytes read from the source, for progress. */
  private static final class Counting extends FilterInputStream {
    private final LongConsumer progress;
    private long count;

    Counting(InputStream in, LongConsumer progress) {
      super(in);
      this.progress = progress;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = super.read(b, off, len);
      if (n > 0) {
        count += n;
        if (progress != null) {
          progress.accept(count);
        }
      }
      return n;
    }
  }
}
