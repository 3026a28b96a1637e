package dev.qcow2.remote;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.List;
import java.util.Locale;

/**
 * The kinds of remote object, by URL scheme: the one place that maps a scheme to a {@link
 * RangeSource}.
 */
public final class RangeSources {
  private RangeSources() {}

  /** The schemes {@link #open} reads. */
  private static final List<String> SCHEMES = List.of("http", "https", "s3");

  /** Whether {@code name} is the URL of a remote object we read (rather than a local file name). */
  public static boolean isRemote(String name) {
    int colon = name.indexOf("://");
    return colon > 0 && SCHEMES.contains(name.substring(0, colon).toLowerCase(Locale.ROOT));
  }

  /** A source for {@code uri}; nothing is sent before its first read. */
  public static RangeSource open(URI uri, RemoteOptions options) throws IOException {
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    return switch (scheme) {
      case "http", "https" -> HttpRangeSource.open(uri, options);
      // The SDK's classes load here, on the first s3:// name, and not before.
      case "s3" -> S3RangeSource.open(S3Clients.shared(), s3Location(uri));
      default ->
          throw new IllegalArgumentException(
              uri
                  + ": the scheme \""
                  + scheme
                  + "\" is not one we read ("
                  + String.join(", ", SCHEMES)
                  + ")");
    };
  }

  /**
   * The URI of {@code s3://BUCKET/KEY} as the user wrote it: S3 keys are not percent-encoded in
   * such names, so characters a URI cannot hold (a space) are encoded here and decoded again by
   * {@link #s3Location}.
   */
  public static URI s3Uri(String name) throws IOException {
    S3Location location = S3Location.parse(name);
    try {
      return new URI("s3", location.bucket(), "/" + location.key(), null);
    } catch (URISyntaxException e) {
      throw new IOException(name + ": not a valid s3:// name (" + e.getReason() + ")", e);
    }
  }

  /** The object an {@code s3://} URI made by {@link #s3Uri} names. */
  static S3Location s3Location(URI uri) throws IOException {
    String path = uri.getPath() == null ? "" : uri.getPath();
    return S3Location.parse("s3://" + uri.getAuthority() + path);
  }
}
