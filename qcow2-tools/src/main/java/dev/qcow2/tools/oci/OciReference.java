package dev.qcow2.tools.oci;

import java.util.Locale;
import java.util.regex.Pattern;

/**
 * A repository in a registry, with an optional tag: {@code oci://HOST[:PORT]/NAMESPACE/REPO[:TAG]}.
 * The repository name follows the distribution specification's grammar (lowercase components joined
 * by {@code /}); the tag follows {@link #isLegalTag}.
 *
 * @param registry {@code HOST[:PORT]}, as credentials files key it
 * @param repository the path under {@code /v2/}, e.g. {@code team/images}
 * @param tag the tag, or null
 */
public record OciReference(String registry, String repository, String tag) {
  private static final Pattern TAG = Pattern.compile("[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}");
  private static final Pattern COMPONENT =
      Pattern.compile("[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*");
  private static final Pattern HOST =
      Pattern.compile("(?:[A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+\\])(?::[0-9]{1,5})?");

  public OciReference {
    if (!HOST.matcher(registry).matches()) {
      throw new IllegalArgumentException("not a registry host[:port]: '" + registry + "'");
    }
    for (String c : repository.split("/", -1)) {
      if (!COMPONENT.matcher(c).matches()) {
        throw new IllegalArgumentException(
            "not a repository name: '"
                + repository
                + "' (lowercase letters, digits and . _ - between them, components joined by /)");
      }
    }
    if (repository.length() > 255) {
      throw new IllegalArgumentException(
          "repository name longer than 255 characters: " + repository);
    }
    if (tag != null && !isLegalTag(tag)) {
      throw new IllegalArgumentException("not a legal OCI tag: '" + tag + "'");
    }
  }

  /** Parses {@code oci://HOST[:PORT]/NAMESPACE/REPO[:TAG]}. */
  public static OciReference parse(String text) {
    if (!text.startsWith("oci://")) {
      throw new IllegalArgumentException("not an oci:// reference: '" + text + "'");
    }
    String rest = text.substring("oci://".length());
    int slash = rest.indexOf('/');
    if (slash <= 0 || slash == rest.length() - 1) {
      throw new IllegalArgumentException(
          "'" + text + "' names no repository (oci://HOST[:PORT]/NAMESPACE/REPO[:TAG])");
    }
    String host = rest.substring(0, slash);
    String path = rest.substring(slash + 1);
    String tag = null;
    int colon = path.lastIndexOf(':');
    if (colon > path.lastIndexOf('/')) {
      tag = path.substring(colon + 1);
      path = path.substring(0, colon);
    }
    while (path.endsWith("/")) {
      path = path.substring(0, path.length() - 1);
    }
    return new OciReference(host, path, tag);
  }

  /**
   * Whether {@code tag} may name a manifest in a registry: {@code
   * [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}}.
   */
  public static boolean isLegalTag(String tag) {
    return TAG.matcher(tag).matches();
  }

  public OciReference withTag(String newTag) {
    return new OciReference(registry, repository, newTag);
  }

  /** The host without port or brackets. */
  public String host() {
    String h =
        registry.startsWith("[")
            ? registry.substring(1, registry.indexOf(']'))
            : registry.contains(":") ? registry.substring(0, registry.indexOf(':')) : registry;
    return h.toLowerCase(Locale.ROOT);
  }

  /**
   * Whether the host is this machine's loopback, where plain HTTP is allowed without being listed.
   */
  public boolean isLoopback() {
    String h = host();
    return h.equals("localhost") || h.equals("::1") || h.matches("127(?:\\.[0-9]{1,3}){3}");
  }

  @Override
  public String toString() {
    return "oci://" + registry + "/" + repository + (tag == null ? "" : ":" + tag);
  }
}
