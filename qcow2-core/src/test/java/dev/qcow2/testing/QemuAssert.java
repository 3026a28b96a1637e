package dev.qcow2.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;

/** Assertions that qemu-img makes about images in a test's folder. */
public final class QemuAssert {
  private QemuAssert() {}

  /** qemu-img check finds nothing wrong with {@code image}. */
  public static void assertClean(Path dir, String image) {
    Qemu.Result check = Qemu.exec(dir, List.of("qemu-img", "check", image));
    assertEquals(0, check.exitCode(), check.stdout() + check.stderr());
    assertTrue(check.stdout().contains("No errors were found"), check.stdout());
  }

  /** qemu-img compare finds the disks of {@code a} and {@code b} equal. */
  public static void assertSameDisk(Path dir, String a, String b) {
    Qemu.Result compare = Qemu.exec(dir, List.of("qemu-img", "compare", a, b));
    assertEquals(0, compare.exitCode(), compare.stdout() + compare.stderr());
  }
}
