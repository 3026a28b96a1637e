package dev.qcow2.nbd;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.Collection;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A server's TLS context from the files qemu's {@code tls-creds-x509} object reads in its {@code
 * dir}: {@code server-cert.pem} (the certificate, then any chain), {@code server-key.pem} (its
 * private key: PKCS #8, or PKCS #1 RSA, unencrypted) and {@code ca-cert.pem} (the authorities whose
 * client certificates {@code verify-peer} accepts).
 */
public final class TlsCredentials {
  private TlsCredentials() {}

  /**
   * @param verifyPeer whether clients must present a certificate signed by {@code ca-cert.pem}
   *     (qemu's default); without it, {@code ca-cert.pem} may be absent
   * @throws IOException if a file is missing or not what its name says
   */
  public static SSLContext x509(Path dir, boolean verifyPeer) throws IOException {
    try {
      Collection<? extends Certificate> chain = certificates(dir.resolve("server-cert.pem"));
      PrivateKey key = privateKey(dir.resolve("server-key.pem"));
      KeyStore keys = KeyStore.getInstance("PKCS12");
      keys.load(null, null);
      keys.setKeyEntry("server", key, new char[0], chain.toArray(new Certificate[0]));
      KeyManagerFactory kmf =
          KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(keys, new char[0]);
      TrustManagerFactory tmf = null;
      Path ca = dir.resolve("ca-cert.pem");
      if (verifyPeer || Files.exists(ca)) {
        KeyStore trusted = KeyStore.getInstance("PKCS12");
        trusted.load(null, null);
        int i = 0;
        for (Certificate c : certificates(ca)) {
          trusted.setCertificateEntry("ca" + i++, c);
        }
        tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trusted);
      }
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(kmf.getKeyManagers(), tmf == null ? null : tmf.getTrustManagers(), null);
      return context;
    } catch (GeneralSecurityException e) {
      throw new IOException(dir + ": cannot use the TLS credentials there: " + e.getMessage(), e);
    }
  }

  private static Collection<? extends Certificate> certificates(Path file)
      throws IOException, GeneralSecurityException {
    Collection<? extends Certificate> certs =
        CertificateFactory.getInstance("X.509")
            .generateCertificates(new ByteArrayInputStream(Files.readAllBytes(file)));
    if (certs.isEmpty()) {
      throw new IOException(file + ": no certificate in it");
    }
    return certs;
  }

  private static PrivateKey privateKey(Path file) throws IOException, GeneralSecurityException {
    if (!Files.exists(file)) {
      throw new NoSuchFileException(file.toString());
    }
    String pem = Files.readString(file, StandardCharsets.US_ASCII);
    byte[] pkcs8;
    if (pem.contains("-----BEGIN PRIVATE KEY-----")) {
      pkcs8 = pemBody(pem, "PRIVATE KEY");
    } else if (pem.contains("-----BEGIN RSA PRIVATE KEY-----")) {
      pkcs8 = rsaPkcs1ToPkcs8(pemBody(pem, "RSA PRIVATE KEY"));
    } else {
      throw new IOException(
          file + ": not an unencrypted PKCS #8 or PKCS #1 RSA private key in PEM form");
    }
    GeneralSecurityException last = null;
    for (String algorithm : new String[] {"RSA", "EC", "Ed25519"}) {
      try {
        return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
      } catch (GeneralSecurityException e) {
        last = e;
      }
    }
    throw new IOException(
        file + ": a private key of no algorithm this server knows (RSA, EC, Ed25519)", last);
  }

  private static byte[] pemBody(String pem, String label) throws IOException {
    String begin = "-----BEGIN " + label + "-----";
    String end = "-----END " + label + "-----";
    int from = pem.indexOf(begin);
    int to = pem.indexOf(end, from);
    if (to < 0) {
      throw new IOException("PEM block " + label + " has no end line");
    }
    return Base64.getMimeDecoder().decode(pem.substring(from + begin.length(), to));
  }

  /**
   * Wraps a PKCS #1 RSAPrivateKey in a PKCS #8 PrivateKeyInfo (version 0, rsaEncryption, the key as
   * an OCTET STRING), which is what the JDK's key factory reads.
   */
  private static byte[] rsaPkcs1ToPkcs8(byte[] pkcs1) {
    byte[] algorithm = {
      0x30,
      0x0d,
      0x06,
      0x09,
      0x2a,
      (byte) 0x86,
      0x48,
      (byte) 0x86,
      (byte) 0xf7,
      0x0d,
      0x01,
      0x01,
      0x01,
      0x05,
      0x00
    };
    byte[] version = {0x02, 0x01, 0x00};
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    body.writeBytes(version);
    body.writeBytes(algorithm);
    body.writeBytes(der(0x04, pkcs1));
    return der(0x30, body.toByteArray());
  }

  private static byte[] der(int tag, byte[] content) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(tag);
    int n = content.length;
    if (n < 0x80) {
      out.write(n);
    } else {
      int bytes = (32 - Integer.numberOfLeadingZeros(n) + 7) / 8;
      out.write(0x80 | bytes);
      for (int i = bytes - 1; i >= 0; i--) {
        out.write(n >>> (8 * i));
      }
    }
    out.writeBytes(content);
    return out.toByteArray();
  }
}
