package dev.qcow2.tools.oci;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * A content digest as the OCI image specification writes it: {@code sha256:<64 lowercase hex>}.
 * Only sha256 is produced or accepted: it is what every registry supports and what canga's
 * identities already use.
 */
public record Digest(String hex) {
  private static final Pattern HEX = Pattern.compile("[0-9a-f]{64}");

  public Digest {
    if (!HEX.matcher(hex).matches()) {
      throw new IllegalArgumentException("not a sha256 digest: '" + hex + "'");
    }
  }

  /** Parses {@code sha256:<hex>}. */
  public static Digest parse(String text) {
    if (text == null || !text.startsWith("sha256:")) {
      throw new IllegalArgumentException(
          "not a sha256 digest: '" + text + "' (sha256:<64 hex digits>)");
    }
    return new Digest(text.substring("sha256:".length()));
  }

  /** The digest of {@code bytes}. */
  public static Digest of(byte[] bytes) {
    MessageDigest md = newSha256();
    return new Digest(HexFormat.of().formatHex(md.digest(bytes)));
  }

  /** The digest a finished {@link MessageDigest} (from {@link #newSha256}) holds. */
  public static Digest of(MessageDigest finished) {
    return new Digest(HexFormat.of().formatHex(finished.digest()));
  }

  /** The digest of a file's bytes, read once in 1 MiB pieces. */
  public static Digest ofFile(Path file) throws IOException {
    MessageDigest md = newSha256();
    try (InputStream in = Files.newInputStream(file)) {
      byte[] buf = new byte[1 << 20];
      int n;
      while ((n = in.read(buf)) > 0) {
        md.update(buf, 0, n);
      }
    }
    return of(md);
  }

  public static MessageDigest newSha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK lacks SHA-256", e);
    }
  }

  @Override
  public String toString() {
    return "sha256:" + hex;
  }
}
