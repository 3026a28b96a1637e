package dev.qcow2.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class S3UploadOptionsTest {
  static final long MIB = 1 << 20;
  static final long GIB = 1L << 30;

  static int partSizeFor(long length) throws IOException {
    return S3UploadOptions.builder().expectedLength(length).build().partSize();
  }

  @Test
  void thePartSizeFitsTheExpectedLengthInTenThousandParts() throws Exception {
    assertEquals(8 * MIB, partSizeFor(0));
    assertEquals(8 * MIB, partSizeFor(12 * MIB));
    assertEquals(8 * MIB, partSizeFor(80_000 * MIB));
    assertEquals(9 * MIB, partSizeFor(80_000 * MIB + 1));
    assertEquals(105 * MIB, partSizeFor(1L << 40));
    long fiveTiB = 5L << 40;
    S3UploadOptions largest = S3UploadOptions.builder().expectedLength(fiveTiB).build();
    assertTrue(largest.maxLength() >= fiveTiB);
    assertTrue((long) largest.partSize() * S3UploadOptions.MAX_PARTS >= fiveTiB);
    for (long length : new long[] {1, 5 * GIB, 777 * GIB + 12345, fiveTiB - 1}) {
      S3UploadOptions o = S3UploadOptions.builder().expectedLength(length).build();
      assertTrue(o.maxLength() >= length, "length " + length);
      assertEquals(0, o.partSize() % MIB);
    }
  }

  @Test
  void withoutALengthPartsAre16MiBAndTheLimitIsKnown() throws Exception {
    S3UploadOptions o = S3UploadOptions.defaults();
    assertEquals(16 * MIB, o.partSize());
    assertEquals(-1, o.expectedLength());
    assertEquals(16 * MIB * S3UploadOptions.MAX_PARTS, o.maxLength());
    assertEquals(5, o.bufferedParts());
  }

  @Test
  void aLargerFirstPartIsKept() throws Exception {
    S3UploadOptions o =
        S3UploadOptions.builder()
            .partSize(5 << 20)
            .firstPartSize(64 << 20)
            .holdFirstPart(true)
            .build();
    assertEquals(64 * MIB, o.firstPartSize());
    assertEquals(5 * MIB, o.partSize());
    assertEquals(
        8 * MIB,
        S3UploadOptions.builder()
            .firstPartSize(1 << 20 << 3)
            .expectedLength(1)
            .build()
            .firstPartSize());
  }

  @Test
  void whatS3CannotTakeIsRefused() {
    IOException tooLarge =
        assertThrows(
            IOException.class,
            () -> S3UploadOptions.builder().expectedLength((5L << 40) + 1).build());
    assertEquals(
        "an object of 5497558138881 bytes is larger than S3's limit of 5 TiB",
        tooLarge.getMessage());
    IOException tooMany =
        assertThrows(
            IOException.class,
            () -> S3UploadOptions.builder().partSize(5 << 20).expectedLength(60 * GIB).build());
    assertTrue(
        tooMany
            .getMessage()
            .startsWith("an object of 64424509440 bytes does not fit in 10000 parts"),
        tooMany.getMessage());
    assertThrows(
        IllegalArgumentException.class,
        () -> S3UploadOptions.builder().partSize((5 << 20) - 1).build());
    assertThrows(
        IllegalArgumentException.class,
        () -> S3UploadOptions.builder().firstPartSize(1 << 20).build());
    assertThrows(
        IllegalArgumentException.class, () -> S3UploadOptions.builder().threads(0).build());
  }
}
