package dev.qcow2.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import dev.qcow2.fuzz.SeedImage.Field;
import dev.qcow2.fuzz.SeedImage.Kind;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Structured mutation of a seed image: the fuzzer picks a seed, then one to four times a field of
 * the structures the target is about (a header field, an L2 entry, a snapshot's name length...) and
 * a value for it. Values come from the places where parsers go wrong: zero, all ones, the top bit,
 * the file size and its neighbours, another structure's offset (overlaps), a flipped bit, a small
 * step, or any number. A few mutations overwrite a byte anywhere or cut the file short.
 */
final class Mutator {
  private static final long OFFSET_BITS = 0x00fffffffffffe00L;

  private Mutator() {}

  /** The seed the fuzzer picks from {@code seeds}. */
  static SeedImage pick(FuzzedDataProvider data, List<SeedImage> seeds) {
    return seeds.get(data.consumeInt(0, seeds.size() - 1));
  }

  /** A mutated copy of {@code seed}, touching only fields of {@code kinds} (and stray bytes). */
  static byte[] mutate(FuzzedDataProvider data, SeedImage seed, Kind... kinds) {
    byte[] image = seed.bytes().clone();
    List<Field> pool = new ArrayList<>();
    for (Kind k : kinds) {
      pool.addAll(seed.fields(k));
    }
    List<Field> everywhere = new ArrayList<>();
    for (Kind k : Kind.values()) {
      everywhere.addAll(seed.fields(k));
    }
    int length = image.length;
    int n = data.consumeInt(1, 4);
    for (int i = 0; i < n; i++) {
      int op = data.consumeInt(0, 11);
      if (op == 10 || pool.isEmpty()) {
        if (length > 0) {
          image[data.consumeInt(0, length - 1)] = data.consumeByte();
        }
        continue;
      }
      if (op == 11) {
        length = data.consumeInt(0, length);
        continue;
      }
      Field f = pool.get(data.consumeInt(0, pool.size() - 1));
      long at = f.offset() + (long) f.width() * data.consumeInt(0, f.entries() - 1);
      if (at < 0 || at + f.width() > image.length) {
        continue;
      }
      long current = get(image, (int) at, f.width());
      put(image, (int) at, f.width(), value(data, op, current, f.width(), seed, everywhere));
    }
    return length == image.length ? image : Arrays.copyOf(image, length);
  }

  private static long value(
      FuzzedDataProvider data, int op, long current, int width, SeedImage seed, List<Field> all) {
    long fileSize = seed.bytes().length;
    long cluster = seed.clusterSize();
    switch (op) {
      case 0:
        return 0;
      case 1:
        return -1;
      case 2:
        return data.consumeLong();
      case 3:
        return current ^ (1L << data.consumeInt(0, width * 8 - 1));
      case 4:
        return current + data.consumeInt(-1024, 1024);
      case 5:
        {
          long[] sizes = {
            fileSize,
            fileSize - cluster,
            fileSize + cluster,
            fileSize - 1,
            fileSize + 512,
            1L << 56,
            1L << 62
          };
          long v = sizes[data.consumeInt(0, sizes.length - 1)];
          // Keep the flags of a table entry, so the entry still says "allocated" or "compressed".
          return width == 8 ? (current & ~OFFSET_BITS) | (v & OFFSET_BITS) | (v & 0x1ff) : v;
        }
      case 6:
        {
          long[] edges = {
            1L << (width * 8 - 1),
            (1L << (width * 8 - 1)) - 1,
            Integer.MAX_VALUE,
            0x80000000L,
            0xffffL,
            1 << 16,
            1
          };
          return edges[data.consumeInt(0, edges.length - 1)];
        }
      case 7:
        {
          // Point at another structure, or inside it: overlapping and self-referencing tables.
          Field other = all.get(data.consumeInt(0, all.size() - 1));
          long target = other.offset() + (data.consumeBoolean() ? 0 : data.consumeInt(0, 4095));
          return width == 8
              ? (current & ~OFFSET_BITS) | (target & OFFSET_BITS) | (target & 0x1ff)
              : target;
        }
      case 8:
        return cluster * data.consumeLong(0, fileSize / cluster + 2);
      default:
        return data.consumeInt(0, 255);
    }
  }

  private static long get(byte[] b, int at, int width) {
    long v = 0;
    for (int i = 0; i < width; i++) {
      v = (v << 8) | (b[at + i] & 0xff);
    }
    return v;
  }

  private static void put(byte[] b, int at, int width, long v) {
    for (int i = width - 1; i >= 0; i--) {
      b[at + i] = (byte) v;
      v >>>= 8;
    }
  }
}
