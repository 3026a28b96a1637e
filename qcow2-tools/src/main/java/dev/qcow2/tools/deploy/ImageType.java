package dev.qcow2.tools.deploy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** What a deploy source holds: a qcow2 image, or a raw disk, plain or compressed. */
public enum ImageType {
  RAW("raw"),
  RAW_GZ("raw+gz"),
  RAW_BZ2("raw+bz2"),
  RAW_XZ("raw+xz"),
  QCOW2("qcow2");

  private final String label;

  ImageType(String label) {
    this.label = label;
  }

  /** The name --type takes and IMAGE_TYPE gives hooks. */
  public String label() {
    return label;
  }

  public static ImageType of(String label) {
    for (ImageType t : values()) {
      if (t.label.equals(label)) {
        return t;
      }
    }
    throw new IllegalArgumentException(
        "unknown image type '" + label + "' (raw, raw+gz, raw+bz2, raw+xz, qcow2)");
  }

  /**
   * The type the first bytes show: qcow2, gzip, bzip2 and xz magic numbers; anything else is raw.
   */
  public static ImageType detect(Path file) throws IOException {
    byte[] head = new byte[6];
    int n;
    try (InputStream in = Files.newInputStream(file)) {
      n = in.readNBytes(head, 0, head.length);
    }
    byte[] b = Arrays.copyOf(head, n);
    if (startsWith(b, 'Q', 'F', 'I', 0xfb)) {
      return QCOW2;
    }
    if (startsWith(b, 0x1f, 0x8b)) {
      return RAW_GZ;
    }
    if (startsWith(b, 'B', 'Z', 'h')) {
      return RAW_BZ2;
    }
    if (startsWith(b, 0xfd, '7', 'z', 'X', 'Z', 0x00)) {
      return RAW_XZ;
    }
    return RAW;
  }

  private static boolean startsWith(byte[] b, int... magic) {
    if (b.length < magic.length) {
      return false;
    }
    for (int i = 0; i < magic.length; i++) {
      if ((b[i] & 0xff) != magic[i]) {
        return false;
      }
    }
    return true;
  }
}
