package dev.qcow2.tools.img;

import dev.qcow2.crypto.LuksOptions;
import java.util.List;

/**
 * qemu's {@code encrypt.*} create options for qcow2, with qemu's names, help and defaults: only
 * {@code encrypt.format=luks} is made (the legacy AES method is read by qemu but never created
 * here).
 */
final class EncryptOptions {
  private EncryptOptions() {}

  /** In the order qemu 7.2 prints them in the Formatting line, before cluster_size. */
  static final List<CreateOptionList.Desc> DESCS =
      List.of(
          desc("encrypt.format", "Encrypt the image, format choices: 'aes', 'luks'"),
          desc("encrypt.key-secret", "ID of secret providing qcow AES key or LUKS passphrase"),
          desc("encrypt.cipher-alg", "Name of encryption cipher algorithm"),
          desc("encrypt.cipher-mode", "Name of encryption cipher mode"),
          desc("encrypt.ivgen-alg", "Name of IV generator algorithm"),
          desc("encrypt.ivgen-hash-alg", "Name of IV generator hash algorithm"),
          desc("encrypt.hash-alg", "Name of encryption hash algorithm"),
          new CreateOptionList.Desc(
              "encrypt.iter-time",
              CreateOptionList.Type.NUMBER,
              null,
              "Time to spend in PBKDF in milliseconds"));

  private static CreateOptionList.Desc desc(String name, String help) {
    return new CreateOptionList.Desc(name, CreateOptionList.Type.STRING, null, help);
  }

  /** The LUKS options {@code opts} ask for, or null for an image that is not encrypted. */
  static LuksOptions luks(CreateOptionList opts) {
    String format = opts.string("encrypt.format");
    if (format == null) {
      return null;
    }
    if (format.equals("aes")) {
      throw new IllegalArgumentException(
          "encrypt.format=aes (the legacy qcow2 AES method) is not supported for new images;"
              + " use encrypt.format=luks");
    }
    if (!format.equals("luks")) {
      throw new IllegalArgumentException(
          "Parameter 'encrypt.format' does not accept value '" + format + "'");
    }
    LuksOptions d = LuksOptions.defaults();
    return new LuksOptions(
        or(opts.string("encrypt.cipher-alg"), d.cipherAlg()),
        or(opts.string("encrypt.cipher-mode"), d.cipherMode()),
        or(opts.string("encrypt.ivgen-alg"), d.ivgenAlg()),
        opts.string("encrypt.ivgen-hash-alg"),
        or(opts.string("encrypt.hash-alg"), d.hashAlg()),
        opts.number("encrypt.iter-time", d.iterTimeMillis()));
  }

  private static String or(String value, String fallback) {
    return value != null ? value : fallback;
  }
}
