package dev.qcow2.hash;

import java.util.Arrays;
import java.util.HexFormat;

/** A digest of an image's content (or of a file), with the algorithm that made it. */
public final class ContentHash {
  private final HashAlgorithm algorithm;
  private final byte[] bytes;

  public ContentHash(HashAlgorithm algorithm, byte[] bytes) {
    this.algorithm = algorithm;
    this.bytes = bytes.clone();
  }

  public HashAlgorithm algorithm() {
    return algorithm;
  }

  public byte[] bytes() {
    return bytes.clone();
  }

  /** Lower-case hexadecimal, as sha256sum prints it and Cangallo's index stores it. */
  public String hex() {
    return HexFormat.of().formatHex(bytes);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ContentHash h && h.algorithm == algorithm && Arrays.equals(h.bytes, bytes);
  }

  @Override
  public int hashCode() {
    return 31 * algorithm.hashCode() + Arrays.hashCode(bytes);
  }

  @Override
  public String toString() {
    return algorithm.label() + ":" + hex();
  }
}
