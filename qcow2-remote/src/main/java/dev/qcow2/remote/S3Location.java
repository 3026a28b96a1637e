package dev.qcow2.remote;

import java.io.IOException;
import java.util.Objects;

/**
 * An object's address in an S3-compatible store, {@code s3://BUCKET/KEY}, or a folder of objects,
 * {@code s3://BUCKET/PREFIX/} (the key then ends with a slash, or is empty for the whole bucket).
 *
 * <p>Keys are taken as they are written: S3 keys are not percent-encoded in an {@code s3://} name.
 * Immutable.
 */
public final class S3Location {
  private static final String SCHEME = "s3://";

  private final String bucket;
  private final String key;

  private S3Location(String bucket, String key) {
    this.bucket = bucket;
    this.key = key;
  }

  /** Whether {@code name} is an {@code s3://} name (whatever its validity). */
  public static boolean isS3(String name) {
    return name.regionMatches(true, 0, SCHEME, 0, SCHEME.length());
  }

  /**
   * Parses {@code s3://BUCKET[/KEY]}. The bucket name follows S3's rules (3 to 63 lower-case
   * letters, digits, dots and hyphens, starting and ending with a letter or digit).
   */
  public static S3Location parse(String name) throws IOException {
    if (!isS3(name)) {
      throw new IOException(name + ": not an s3:// name");
    }
    String rest = name.substring(SCHEME.length());
    int slash = rest.indexOf('/');
    String bucket = slash < 0 ? rest : rest.substring(0, slash);
    String key = slash < 0 ? "" : rest.substring(slash + 1);
    if (!validBucket(bucket)) {
      throw new IOException(
          name
              + ": \""
              + bucket
              + "\" is not a valid bucket name"
              + " (3 to 63 lower-case letters, digits, dots and hyphens)");
    }
    return new S3Location(bucket, key);
  }

  private static boolean validBucket(String b) {
    if (b.length() < 3 || b.length() > 63) {
      return false;
    }
    for (int i = 0; i < b.length(); i++) {
      char c = b.charAt(i);
      boolean alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      boolean inner = c == '.' || c == '-';
      if (!alnum && !(inner && i > 0 && i < b.length() - 1)) {
        return false;
      }
    }
    return true;
  }

  public String bucket() {
    return bucket;
  }

  /** The object key, without the leading slash; empty or ending with '/' for a folder. */
  public String key() {
    return key;
  }

  /** Whether this names an object rather than a folder. */
  public boolean isObject() {
    return !key.isEmpty() && !key.endsWith("/");
  }

  /** The folder holding this object (its key up to the last slash), or this folder itself. */
  public S3Location folder() {
    return new S3Location(bucket, key.substring(0, key.lastIndexOf('/') + 1));
  }

  /**
   * The object {@code name} names relative to this one's folder, as a backing file name stored in
   * an image is read: only names that stay inside that folder are followed. An absolute name, a
   * name with a scheme or a colon ({@code json:}, {@code http:}), a {@code .} or {@code ..}
   * segment, an empty segment or a backslash is refused, even when the store has an object there,
   * so that an image never makes us read outside its own folder.
   */
  public S3Location resolve(String name) throws IOException {
    String why = null;
    if (name.isEmpty()) {
      why = "is empty";
    } else if (name.startsWith("/")) {
      why = "is absolute";
    } else if (name.indexOf(':') >= 0) {
      why = "is a protocol or JSON pseudo-file name";
    } else if (name.indexOf('\\') >= 0) {
      why = "holds a backslash";
    } else {
      for (String segment : name.split("/", -1)) {
        if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
          why = "does not stay inside the image's folder";
          break;
        }
      }
    }
    if (why != null) {
      throw new IOException(
          this
              + ": backing file name \""
              + name
              + "\" "
              + why
              + "; only names inside "
              + folder()
              + " are followed");
    }
    return new S3Location(bucket, folder().key + name);
  }

  @Override
  public String toString() {
    return SCHEME + bucket + "/" + key;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof S3Location l && l.bucket.equals(bucket) && l.key.equals(key);
  }

  @Override
  public int hashCode() {
    return Objects.hash(bucket, key);
  }
}
