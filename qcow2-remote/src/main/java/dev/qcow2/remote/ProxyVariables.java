package dev.qcow2.remote;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.ProxySelector;
import java.net.SocketAddress;
import java.net.URI;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The proxy variables curl and wget honour, as a {@link ProxySelector}: {@code http_proxy} for http
 * URLs, {@code https_proxy} (or {@code HTTPS_PROXY}) for https, {@code all_proxy} (or {@code
 * ALL_PROXY}) for either when those are unset, and {@code no_proxy} (or {@code NO_PROXY}): host
 * names whose own name or domain is listed, or {@code *}, go direct. As curl, the upper-case {@code
 * HTTP_PROXY} is ignored: a CGI program gets it from a request's Proxy header ("httpoxy").
 */
final class ProxyVariables extends ProxySelector {
  private static final List<Proxy> DIRECT = List.of(Proxy.NO_PROXY);

  private final Map<String, String> env;

  ProxyVariables(Map<String, String> env) {
    this.env = env;
  }

  @Override
  public List<Proxy> select(URI uri) {
    String host = uri.getHost();
    if (host == null || bypassed(host.toLowerCase(Locale.ROOT))) {
      return DIRECT;
    }
    String value =
        "https".equalsIgnoreCase(uri.getScheme())
            ? first("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
            : first("http_proxy", "all_proxy", "ALL_PROXY");
    if (value == null) {
      return DIRECT;
    }
    URI proxy = URI.create(value.contains("://") ? value : "http://" + value);
    if (proxy.getHost() == null) {
      throw new IllegalArgumentException("proxy variable \"" + value + "\" names no host");
    }
    // curl's default proxy port.
    int port = proxy.getPort() >= 0 ? proxy.getPort() : 1080;
    return List.of(
        new Proxy(Proxy.Type.HTTP, InetSocketAddress.createUnresolved(proxy.getHost(), port)));
  }

  private boolean bypassed(String host) {
    String list = first("no_proxy", "NO_PROXY");
    if (list == null) {
      return false;
    }
    for (String entry : list.split(",")) {
      String e = entry.trim().toLowerCase(Locale.ROOT);
      int colon = e.lastIndexOf(':');
      if (colon > 0 && e.indexOf(':') == colon) {
        e = e.substring(0, colon); // host:port; the port is not compared
      }
      if (e.startsWith(".")) {
        e = e.substring(1);
      }
      if (e.equals("*") || (!e.isEmpty() && (host.equals(e) || host.endsWith("." + e)))) {
        return true;
      }
    }
    return false;
  }

  private String first(String... names) {
    for (String n : names) {
      String v = env.get(n);
      if (v != null && !v.isBlank()) {
        return v.trim();
      }
    }
    return null;
  }

  @Override
  public void connectFailed(URI uri, SocketAddress sa, IOException ioe) {
    // Nothing to remember: the request fails, and is retried as any other.
  }
}
