package dev.qcow2.hash;

/** The content digests {@link ContentHasher} computes. */
public enum HashAlgorithm {
  /** SHA-1 of the whole virtual disk, as {@code sha1sum} of {@code qemu-img convert -O raw}. */
  SHA1("sha1", "SHA-1"),
  /** SHA-256 of the whole virtual disk: Cangallo's image identity. */
  SHA256("sha256", "SHA-256"),
  /**
   * A parallel, sparse-aware digest: SHA-256 over the SHA-256 digests of the disk's 1 MiB chunks
   * followed by the disk size. Defined in the README, with test vectors.
   */
  TREE_SHA256("tree-sha256", "SHA-256");

  private final String label;
  private final String jcaName;

  HashAlgorithm(String label, String jcaName) {
    this.label = label;
    this.jcaName = jcaName;
  }

  /**
   * The algorithm's name on the command line and in printed digests.
   *
   * @return "sha1", "sha256" or "tree-sha256"
   */
  public String label() {
    return label;
  }

  String jcaName() {
    return jcaName;
  }

  /**
   * The algorithm with this command-line name.
   *
   * @param label "sha1", "sha256" or "tree-sha256", in lower case
   * @return the algorithm; never null
   * @throws IllegalArgumentException if no algorithm has that name
   */
  public static HashAlgorithm of(String label) {
    for (HashAlgorithm a : values()) {
      if (a.label.equals(label)) {
        return a;
      }
    }
    throw new IllegalArgumentException(
        "unknown hash algorithm '" + label + "' (sha1, sha256, tree-sha256)");
  }
}
