package dev.qcow2.remote;

import java.net.URI;
import java.util.List;
import java.util.Locale;

/** The kinds of remote object, by URL scheme: the one place that maps a scheme to a {@link RangeSource}. */
public final class RangeSources {
  private RangeSources() {}

  /** The schemes {@link #open} reads. */
  private static final List<String> SCHEMES = List.of("http", "https");

  /** Whether {@code name} is the URL of a remote object we read (rather than a local file name). */
  public static boolean isRemote(String name) {
    int colon = name.indexOf("://");
    return colon > 0 && SCHEMES.contains(name.substring(0, colon).toLowerCase(Locale.ROOT));
  }

  /** A source for {@code uri}; nothing is sent before its first read. */
  public static RangeSource open(URI uri, RemoteOptions options) {
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    return switch (scheme) {
      case "http", "https" -> HttpRangeSource.open(uri, options);
      default -> throw new IllegalArgumentException(
          uri + ": the scheme \"" + scheme + "\" is not one we read (" + String.join(", ", SCHEMES) + ")");
    };
  }
}
