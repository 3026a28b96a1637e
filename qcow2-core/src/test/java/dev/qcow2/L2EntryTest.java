package dev.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The L1/L2 entry decoders against the layouts of the qcow2 specification. */
class L2EntryTest {
  @Test
  void compressedDescriptorRoundTripsForEveryClusterSize() {
    long seed = System.nanoTime();
    Random random = new Random(seed);
    for (int bits = Header.MIN_CLUSTER_BITS; bits <= Header.MAX_CLUSTER_BITS; bits++) {
      int offsetBits = Math.min(56, 62 - (bits - 8));
      for (int i = 0; i < 1000; i++) {
        long offset = random.nextLong() & ((1L << offsetBits) - 1) & ~((1L << bits) * 4 - 1);
        offset += random.nextInt(1 << bits);
        int size = 1 + random.nextInt((1 << bits) - 1);
        long e = CompressedDescriptor.entry(offset, size, bits);
        String at =
            "seed " + seed + ", cluster_bits " + bits + ", offset " + offset + ", size " + size;
        assertTrue(L2Entry.isCompressed(e), at);
        assertFalse(L2Entry.isCopied(e), at);
        assertEquals(offset, CompressedDescriptor.hostOffset(e, bits), at);
        long sectors = (offset + size + 511) / 512 - offset / 512;
        assertEquals(sectors, CompressedDescriptor.sectors(e, bits), at);
        // qemu's csize reaches to the end of the last sector: at least the bytes written.
        int csize = CompressedDescriptor.compressedSize(e, bits);
        assertTrue(csize >= size && csize < size + 512, at);
        long first = (offset & ~511L) >>> bits;
        long last = (offset + size - 1) >>> bits;
        assertEquals(first, CompressedDescriptor.firstCluster(e, bits), at);
        assertEquals(last - first + 1, CompressedDescriptor.clusterCount(e, bits), at);
      }
    }
  }

  @Test
  void qemuDescriptorDecodesAsTheSpecificationSays() {
    // cluster_bits 16: x = 54; 3 additional sectors, offset 0x12345.
    long e = (1L << 62) | (3L << 54) | 0x12345L;
    assertEquals(0x12345L, CompressedDescriptor.hostOffset(e, 16));
    assertEquals(4, CompressedDescriptor.sectors(e, 16));
    assertEquals(4 * 512 - 0x145, CompressedDescriptor.compressedSize(e, 16));
  }

  @Test
  void standardDescriptorFlagsAndOffset() {
    long e = L2Entry.owned(0x50000L);
    assertTrue(L2Entry.isCopied(e));
    assertEquals(0x50000L, L2Entry.hostOffset(e));
    assertTrue(L2Entry.isOwned(e, false));
    assertFalse(L2Entry.isOwned(L2Entry.withCopied(e, false), false));
    assertFalse(
        L2Entry.isOwned(L2Entry.owned(0), false), "offset 0 is unallocated in the image file");
    assertTrue(
        L2Entry.isOwned(L2Entry.owned(0), true), "offset 0 is a cluster of an external data file");
    assertTrue(L2Entry.hasZeroFlag(L2Entry.ZERO));
    assertFalse(L2Entry.holdsHostSpace(L2Entry.ZERO));
    assertEquals(-1, L2Entry.plainHostOffset(CompressedDescriptor.entry(0x10200, 100, 16)));
    assertEquals(0x70000L, L1Entry.l2Offset(L1Entry.owned(0x70000L) | 0x7f00000000000000L));
  }

  @Test
  void subclusterBitmapHalves() {
    long b = SubclusterBitmap.of(SubclusterBitmap.range(0, 3), SubclusterBitmap.range(4, 31));
    assertTrue(SubclusterBitmap.isAllocated(b, 3));
    assertFalse(SubclusterBitmap.isAllocated(b, 4));
    assertTrue(SubclusterBitmap.isZero(b, 4));
    assertTrue(SubclusterBitmap.isZero(b, 31));
    assertEquals(0xfL, SubclusterBitmap.allocated(b));
    assertEquals(SubclusterBitmap.ALL_ZERO, SubclusterBitmap.of(0, SubclusterBitmap.range(0, 31)));
    assertEquals(SubclusterBitmap.ALL_ALLOCATED, SubclusterBitmap.range(0, 31));
  }
}
