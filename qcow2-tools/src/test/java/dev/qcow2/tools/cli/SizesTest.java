package dev.qcow2.tools.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import picocli.CommandLine.TypeConversionException;

/** Units both ways; qemu-img itself checks toHuman over many sizes in InfoCommandTest. */
class SizesTest {
  @Test
  void humanSizesFollowSizeToStr() {
    assertEquals("0 B", Sizes.toHuman(0));
    assertEquals("999 B", Sizes.toHuman(999));
    assertEquals("0.977 KiB", Sizes.toHuman(1000));
    assertEquals("196 KiB", Sizes.toHuman(200704));
    assertEquals("2.82 MiB", Sizes.toHuman(2957312));
    // %0.3g rounds 999.5 up to 1e+03, and qemu prints it so.
    assertEquals("1e+03 KiB", Sizes.toHuman(1023488));
    assertEquals("16 EiB", Sizes.toHuman(-1));
  }

  @Test
  void sizeArgumentsTakeQemuSuffixes() {
    assertEquals(1536, SizeParser.parse("1536"));
    assertEquals(64 << 10, SizeParser.parse("64k"));
    assertEquals(3L << 29, SizeParser.parse("1.5G"));
    assertEquals(512, SizeParser.parse("512b"));
    assertThrows(TypeConversionException.class, () -> SizeParser.parse("-1"));
    assertThrows(TypeConversionException.class, () -> SizeParser.parse("1.5"));
    assertThrows(TypeConversionException.class, () -> SizeParser.parse("ten"));
    assertThrows(TypeConversionException.class, () -> SizeParser.parse("16E"));
  }

  /** qemu_strtosz's corners, as qemu-img create 7.2 reads them (see CreateCommandTest). */
  @Test
  void sizeArgumentsFollowQemuStrtosz() {
    assertEquals(1331, SizeParser.parse("1.3k")); // fractions are cut, half a byte rounds up
    assertEquals(1, SizeParser.parse("1.0"));
    assertEquals(1024, SizeParser.parse("1.k"));
    assertEquals(4096, SizeParser.parse("0x1000"));
    assertEquals(10, SizeParser.parse("010")); // decimal, not octal
    assertEquals(1024, SizeParser.parse(" 1K"));
    assertEquals(7L << 60, SizeParser.parse("7E"));
    assertEquals(-1L, SizeParser.strtosz("18446744073709551615"));
    for (String bad :
        new String[] {"1.5b", "1kb", "1KiB", ".5k", "1e3", "1.5e3k", "0x1.5", "", "k"}) {
      assertThrows(TypeConversionException.class, () -> SizeParser.parse(bad), bad);
    }
    assertEquals(
        true,
        assertThrows(SizeParser.InvalidSizeException.class, () -> SizeParser.parseSigned("8E"))
            .tooLarge());
    assertEquals(
        false,
        assertThrows(SizeParser.InvalidSizeException.class, () -> SizeParser.parseSigned("8X"))
            .tooLarge());
  }
}
