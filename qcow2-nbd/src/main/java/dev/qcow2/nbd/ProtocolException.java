package dev.qcow2.nbd;

import java.io.IOException;

/** A client broke the protocol in a way that ends its connection (a hard disconnect). */
final class ProtocolException extends IOException {
  private static final long serialVersionUID = 1L;

  ProtocolException(String message) {
    super(message);
  }
}
