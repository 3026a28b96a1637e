package dev.qcow2.convert;

import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.file.Path;
import java.util.function.LongConsumer;

/**
 * Converts images: any image to a sparse raw file, to a new qcow2 image, or to a stream that cannot
 * seek ({@link ImageStream}); and a raw disk read once from a channel (standard input) to any of
 * these.
 *
 * <p>The conversions split the disk into fixed chunks. A worker asks the source for block status
 * first, so runs that read as zeros are never read; everything else is read, decompressing on that
 * worker's thread, and scanned for zero blocks, which are not written. For a raw file each worker
 * writes its own chunks with positional writes ({@code RawTarget}); for a qcow2 file ({@code
 * Qcow2Target}) and for a stream ({@code StreamTarget}) one writer takes the chunks in guest order
 * ({@code ChunkPipeline}), so that the output does not depend on the number of threads.
 */
public final class ImageConverter {
  private ImageConverter() {}

  /**
   * Writes the virtual disk of {@code source} to {@code target} as a sparse raw file: holes
   * wherever a 4 KiB block of the disk reads zeros. Reading, decompression and writing run on
   * {@code threads} threads.
   *
   * @param source the image to read, which stays open
   * @param target the raw file to create or replace
   * @param threads the worker threads, at least 1
   * @param progress called with the number of guest bytes done so far (from any thread, never
   *     concurrently); may be null
   * @throws IOException if the source cannot be read or the target written
   */
  public static void toRaw(DiskImage source, Path target, int threads, LongConsumer progress)
      throws IOException {
    convert(source, target, ConvertOptions.builder().threads(threads).progress(progress).build());
  }

  /**
   * Writes the virtual disk of {@code source} into a new qcow2 image made with {@code options}
   * (whose size is taken from the source). Reading and decompression run ahead on {@code threads}
   * threads; one writer stores the chunks in guest order, so the target's clusters lie in order.
   * Clusters that read as zeros are not written: a new image reads zeros there already.
   *
   * @param source the image to read, which stays open
   * @param target the qcow2 file to create or replace
   * @param options how the target is made; its size is ignored
   * @param threads the reader threads, at least 1
   * @param progress called with the number of guest bytes done so far; may be null
   * @throws IOException if the source cannot be read or the target written
   */
  public static void toQcow2(
      DiskImage source, Path target, CreateOptions options, int threads, LongConsumer progress)
      throws IOException {
    convert(
        source,
        target,
        ConvertOptions.builder()
            .targetFormat("qcow2")
            .createOptions(options)
            .threads(threads)
            .progress(progress)
            .build());
  }

  /**
   * Converts {@code source} (with its backing chain) into {@code target} as {@code options} say:
   * qemu-img convert's job.
   *
   * @param source the image to read, which stays open
   * @param target the file to write: created (replacing any file there) unless {@code options} say
   *     no-create
   * @param options the target's format and qemu-img convert's other choices
   * @throws IOException if the source cannot be read or the target written (or, with no-create,
   *     opened)
   */
  public static void convert(DiskImage source, Path target, ConvertOptions options)
      throws IOException {
    if ("raw".equals(options.targetFormat())) {
      RawTarget.convert(source, target, options);
    } else {
      Qcow2Target.convert(source, target, options);
    }
  }

  /**
   * Writes {@code source} to {@code target} front to back, raw or qcow2 as {@code options} say, in
   * bounded memory and without a scratch file, and finishes the stream; the caller closes it. A
   * qcow2 image comes out in one pass where the stream takes its head last, else in two (see {@code
   * StreamTarget}). The bytes do not depend on the number of threads. A stream target is always new
   * and has no backing file: {@code options} with no-create or a backing file are refused.
   *
   * @param source the image to read, which stays open
   * @param target where the bytes go; not closed here
   * @param options the target's format and qemu-img convert's other choices
   * @throws IOException if the source cannot be read or the stream refuses bytes
   * @throws IllegalArgumentException if {@code options} ask for no-create or a backing file
   */
  public static void convert(DiskImage source, ImageStream target, ConvertOptions options)
      throws IOException {
    StreamTarget.convert(source, target, options);
  }

  /**
   * Reads a raw disk from {@code source} to its end (standard input, a pipe) and writes it to
   * {@code target}, a sparse raw file or a new qcow2 image, as {@code options} say (no-create and
   * backing files are refused: the disk's size is known only at the end). Returns the disk's size:
   * the bytes read.
   *
   * @param source the raw disk, read to its end; not closed here
   * @param target the file to create or replace
   * @param options the target's format and qemu-img convert's other choices
   * @return the disk's size in bytes
   * @throws IOException if the source cannot be read or the target written
   * @throws IllegalArgumentException if {@code options} ask for no-create or a backing file
   */
  public static long convert(ReadableByteChannel source, Path target, ConvertOptions options)
      throws IOException {
    refuseForStreamSource(options);
    RawStreamSource in = new RawStreamSource(source);
    return "raw".equals(options.targetFormat())
        ? in.toRaw(target, options)
        : in.toQcow2(target, options);
  }

  /**
   * Copies a raw disk from {@code source} to {@code target} as raw bytes and finishes the stream. A
   * qcow2 target is refused: its layout cannot be planned from a source read once. Returns the
   * disk's size.
   *
   * @param source the raw disk, read to its end; not closed here
   * @param target where the bytes go; not closed here
   * @param options the target's options: a raw format, no create options of their own
   * @return the disk's size in bytes
   * @throws IOException if the source cannot be read or the stream refuses bytes
   * @throws IllegalArgumentException if {@code options} ask for qcow2, no-create or a backing file
   */
  public static long convert(ReadableByteChannel source, ImageStream target, ConvertOptions options)
      throws IOException {
    refuseForStreamSource(options);
    if (!"raw".equals(options.targetFormat())) {
      throw new IllegalArgumentException(
          "a qcow2 image cannot be written as a stream from a source read as a stream: "
              + "its layout cannot be planned");
    }
    return new RawStreamSource(source).toStream(target);
  }

  private static void refuseForStreamSource(ConvertOptions options) {
    if (options.noCreate() || options.backingFile() != null) {
      throw new IllegalArgumentException(
          "a source read as a stream cannot go into an existing target or one with a "
              + "backing file");
    }
  }

  /**
   * Writes {@code buffer[0, length)} at {@code offset} of {@code out}, leaving out every all-zero
   * block of {@code zeroBlock} bytes (aligned on file offsets, so that holes fall on file-system
   * block boundaries); with {@code zeroBlock} 0, writes every byte. The sparse writer of raw
   * targets, for callers that make raw disks from other sources (a decompressed stream, say). A
   * hole is only left where the file has none of its own bytes yet: the caller writes into a new or
   * zeroed file.
   *
   * @param out the file, open for writing
   * @param buffer the bytes: {@code [0, length)} are written, whatever its position
   * @param length how many bytes to write
   * @param offset the file offset of the first byte
   * @param zeroBlock the hole granularity in bytes, or 0 for none
   * @throws IOException if the file cannot be written
   */
  public static void writeSparse(
      FileChannel out, ByteBuffer buffer, int length, long offset, int zeroBlock)
      throws IOException {
    RawTarget.writeSparse(out, buffer, length, offset, zeroBlock);
  }

  /** Whether b[from, to) is all zeros (a vectorized scan, cheap on data). */
  static boolean isZero(ByteBuffer b, int from, int to) {
    return Zeros.isZero(b, from, to);
  }
}
