package dev.qcow2.hash;

import java.util.Arrays;
import java.util.HexFormat;

/** A digest of an image's content (or of a file), with the algorithm that made it. */
public final class ContentHash {
  private final HashAlgorithm algorithm;
  private final byte[] bytes;

  /**
   * A digest made by {@code algorithm}.
   *
   * @param algorithm the algorithm that made the digest; not null
   * @param bytes the digest's bytes, copied
   */
  public ContentHash(HashAlgorithm algorithm, byte[] bytes) {
    this.algorithm = algorithm;
    this.bytes = bytes.clone();
  }

  /**
   * The algorithm that made the digest.
   *
   * @return the algorithm; never null
   */
  public HashAlgorithm algorithm() {
    return algorithm;
  }

  /**
   * The digest's bytes.
   *
   * @return a copy of the bytes: 20 for SHA-1, 32 for the SHA-256 digests
   */
  public byte[] bytes() {
    return bytes.clone();
  }

  /**
   * The digest as sha256sum prints it and Cangallo's index stores it.
   *
   * @return the bytes in lower-case hexadecimal, two digits a byte
   */
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
