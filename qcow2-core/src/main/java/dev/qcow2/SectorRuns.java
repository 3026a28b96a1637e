package dev.qcow2;

import dev.qcow2.internal.crypto.SectorCipher;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.stream.IntStream;

/**
 * Runs of encrypted sectors, read and decrypted or encrypted a piece at a time. A piece is small
 * enough to stay in the CPU's cache between the copy and the cipher; a long run has its pieces
 * shared with the common fork-join pool, because every write reaches the cipher from the image's
 * one writer thread (under its lock), and a single sequential reader (hash, serve) is one thread
 * too: with the pieces spread, both use every core, as qemu's crypto thread pool does.
 */
final class SectorRuns {
  /** Bytes a piece: whole sectors, a multiple of every cluster size's 512-byte sectors. */
  static final int PIECE = 128 << 10;

  /** Runs shorter than this stay on the calling thread: handing pieces over costs more. */
  private static final int SPREAD_FROM = 4 * PIECE;

  /** Each thread's piece of ciphertext on its way in. */
  private static final ThreadLocal<byte[]> SCRATCH = ThreadLocal.withInitial(() -> new byte[PIECE]);

  private SectorRuns() {}

  /**
   * Reads the whole sectors [start, end) of {@code storage} and decrypts them into {@code dst},
   * keeping only the bytes from {@code from} (a host offset inside the first sector or later) on,
   * as many as {@code dst} has room for. The sector at {@code start} is numbered {@code
   * firstSector} for the cipher's IV.
   */
  static void readDecrypted(
      SectorCipher cipher,
      Storage storage,
      long start,
      long end,
      long from,
      long firstSector,
      ByteBuffer dst)
      throws IOException {
    int pieces = (int) ((end - start + PIECE - 1) / PIECE);
    int base = dst.position();
    int n = dst.remaining();
    IntStream each = IntStream.range(0, pieces);
    if (end - start >= SPREAD_FROM && Runtime.getRuntime().availableProcessors() > 1) {
      each = each.parallel();
    }
    try {
      each.forEach(
          i -> {
            long at = start + (long) i * PIECE;
            int len = (int) Math.min(PIECE, end - at);
            byte[] piece = SCRATCH.get();
            try {
              storage.readOrZero(ByteBuffer.wrap(piece, 0, len), at);
            } catch (IOException e) {
              throw new UncheckedIOException(e);
            }
            cipher.decrypt(piece, 0, len, firstSector + (at - start) / SectorCipher.SECTOR_SIZE);
            long keepFrom = Math.max(from, at);
            long keepTo = Math.min(from + n, at + len);
            if (keepTo > keepFrom) {
              dst.put(
                  base + (int) (keepFrom - from),
                  piece,
                  (int) (keepFrom - at),
                  (int) (keepTo - keepFrom));
            }
          });
    } catch (UncheckedIOException e) {
      throw e.getCause();
    }
    dst.position(base + n);
  }

  /** Encrypts {@code b} (whole sectors) in place, its first sector numbered {@code firstSector}. */
  static void encrypt(SectorCipher cipher, byte[] b, long firstSector) {
    int pieces = (b.length + PIECE - 1) / PIECE;
    IntStream each = IntStream.range(0, pieces);
    if (b.length >= SPREAD_FROM && Runtime.getRuntime().availableProcessors() > 1) {
      each = each.parallel();
    }
    each.forEach(
        i -> {
          int at = i * PIECE;
          cipher.encrypt(
              b, at, Math.min(PIECE, b.length - at), firstSector + at / SectorCipher.SECTOR_SIZE);
        });
  }
}
