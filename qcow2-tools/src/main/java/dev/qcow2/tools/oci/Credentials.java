package dev.qcow2.tools.oci;

import java.nio.charset.StandardCharsets;
import java.util.Base64;

/** A user name and secret for one registry; {@link #toString} hides the secret. */
public record Credentials(String user, String secret) {
  public Credentials {
    if (user == null || secret == null) {
      throw new IllegalArgumentException("credentials need a user and a secret");
    }
  }

  /** The value of an {@code Authorization: Basic} header. */
  String basic() {
    return "Basic "
        + Base64.getEncoder()
            .encodeToString((user + ":" + secret).getBytes(StandardCharsets.UTF_8));
  }

  @Override
  public String toString() {
    return "Credentials[" + user + ", ***]";
  }
}
