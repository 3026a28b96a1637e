package dev.qcow2;

/** How compressed clusters are encoded: the header's compression_type byte. */
public enum CompressionType {
  /** Raw deflate without a zlib header; qemu calls it "zlib". Code 0, the default. */
  ZLIB(0, "zlib"),
  /** One or more zstd frames per cluster. Code 1. */
  ZSTD(1, "zstd");

  private final int code;
  private final String qemuName;

  CompressionType(int code, String qemuName) {
    this.code = code;
    this.qemuName = qemuName;
  }

  /**
   * The type's number in the header.
   *
   * @return the value of the header's compression_type field: 0 or 1
   */
  public int code() {
    return code;
  }

  /**
   * The type's name in qemu-img's options ({@code compression_type=}) and in {@code info}.
   *
   * @return "zlib" or "zstd"
   */
  public String qemuName() {
    return qemuName;
  }

  /** The type with header code {@code code}, or null if the code is unknown. */
  static CompressionType ofCode(int code) {
    for (CompressionType t : values()) {
      if (t.code == code) {
        return t;
      }
    }
    return null;
  }
}
