package dev.qcow2.remote;

import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.function.Supplier;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * The JDK's default trust, loaded at the first TLS handshake instead of when a client is built.
 *
 * <p>{@code java.net.http}'s client takes the default {@code SSLContext} as it is built, and that
 * loads and parses the JDK's whole trust store: a quarter of a second of every {@code http://}
 * command's start, for a handshake that plain http never makes (it still can: a redirect to https).
 * The checks are the default trust manager's own, the host name check included: every call is
 * handed to it with the same socket or engine.
 */
final class LazyTrust extends X509ExtendedTrustManager {
  private final Supplier<X509ExtendedTrustManager> loader;
  private volatile X509ExtendedTrustManager delegate;

  LazyTrust(Supplier<X509ExtendedTrustManager> loader) {
    this.loader = loader;
  }

  /**
   * A TLS context with the default trust loaded on first use; the JDK's default context itself when
   * a key store is configured ({@code javax.net.ssl.keyStore}), which only it reads.
   */
  static SSLContext defaultContext() {
    try {
      if (System.getProperty("javax.net.ssl.keyStore") != null) {
        return SSLContext.getDefault();
      }
      return context(LazyTrust::jdkDefault);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("no TLS in this JVM", e);
    }
  }

  static SSLContext context(Supplier<X509ExtendedTrustManager> loader)
      throws GeneralSecurityException {
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(null, new TrustManager[] {new LazyTrust(loader)}, null);
    return context;
  }

  /**
   * The trust of {@code TrustManagerFactory}'s default algorithm (javax.net.ssl.trustStore too).
   */
  static X509ExtendedTrustManager jdkDefault() {
    try {
      TrustManagerFactory tmf =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init((KeyStore) null);
      for (TrustManager tm : tmf.getTrustManagers()) {
        if (tm instanceof X509ExtendedTrustManager x) {
          return x;
        }
      }
      throw new IllegalStateException("the default trust has no X.509 trust manager");
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("the default trust store cannot be read: " + e, e);
    }
  }

  private X509ExtendedTrustManager delegate() throws CertificateException {
    X509ExtendedTrustManager d = delegate;
    if (d == null) {
      synchronized (this) {
        d = delegate;
        if (d == null) {
          try {
            d = loader.get();
          } catch (IllegalStateException e) {
            throw new CertificateException(e.getMessage(), e);
          }
          delegate = d;
        }
      }
    }
    return d;
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
      throws CertificateException {
    delegate().checkServerTrusted(chain, authType, engine);
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
      throws CertificateException {
    delegate().checkServerTrusted(chain, authType, socket);
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType)
      throws CertificateException {
    delegate().checkServerTrusted(chain, authType);
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
      throws CertificateException {
    delegate().checkClientTrusted(chain, authType, engine);
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
      throws CertificateException {
    delegate().checkClientTrusted(chain, authType, socket);
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType)
      throws CertificateException {
    delegate().checkClientTrusted(chain, authType);
  }

  @Override
  public X509Certificate[] getAcceptedIssuers() {
    try {
      return delegate().getAcceptedIssuers();
    } catch (CertificateException e) {
      return new X509Certificate[0];
    }
  }
}
