package dev.qcow2.tools.img;

import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.crypto.LuksException;
import dev.qcow2.tools.cli.UsageException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * qemu-img's secrets and image option strings, shared by the verbs that open encrypted images:
 * {@code --object secret,id=ID,data=DATA|file=FILE[,format=raw|base64]} defines a passphrase, and
 * {@code encrypt.key-secret=ID} names it, in {@code -o} for a new image or, with {@code
 * --image-opts}, in an operand such as {@code driver=qcow2,file.filename=F,encrypt.key-secret=ID}.
 * Passphrases stay bytes; {@link #wipe} zeroes them when the verb is done.
 */
final class Secrets {
  static final Verb.Opt OBJECT =
      Verb.Opt.value(
          "--object",
          "secret,id=ID,data=DATA|file=FILE[,format=base64]",
          "Define a secret (an image passphrase) named by encrypt.key-secret=ID.");

  static final Verb.Opt IMAGE_OPTS =
      Verb.Opt.flag(
          "--image-opts",
          "Image operands are option strings: driver=FMT,file.filename=FILE,"
              + "encrypt.key-secret=ID.");

  /** An image operand: its file, its format (or null to detect) and its secret's id (or null). */
  record ImageSpec(String file, String format, String keySecret) {}

  private final Map<String, byte[]> byId = new HashMap<>();
  boolean imageOpts;

  /** Takes one {@code --object} value. */
  void object(String value) {
    List<String> items = CreateOptionList.split(value);
    String type = items.isEmpty() ? "" : items.get(0);
    if (type.startsWith("qom-type=")) {
      type = type.substring("qom-type=".length());
    }
    if (!type.equals("secret")) {
      throw new UsageException("--object: only secret objects are supported here: '" + value + "'");
    }
    String id = null;
    String data = null;
    String file = null;
    String format = "raw";
    for (String item : items.subList(1, items.size())) {
      int eq = item.indexOf('=');
      String key = eq < 0 ? item : item.substring(0, eq);
      String v = eq < 0 ? "" : item.substring(eq + 1);
      switch (key) {
        case "id" -> id = v;
        case "data" -> data = v;
        case "file" -> file = v;
        case "format" -> format = v;
        default -> throw new UsageException("Property 'secret." + key + "' not found");
      }
    }
    if (id == null) {
      throw new UsageException("Parameter 'id' is missing");
    }
    if ((data == null) == (file == null)) {
      throw new UsageException("Either 'file' or 'data' must be provided");
    }
    byte[] bytes;
    try {
      bytes =
          data != null ? data.getBytes(StandardCharsets.UTF_8) : Files.readAllBytes(Path.of(file));
    } catch (IOException e) {
      throw new UsageException("Unable to read " + file + ": " + e.getMessage());
    }
    switch (format) {
      case "raw" -> {}
      case "base64" -> {
        try {
          byte[] decoded =
              Base64.getDecoder().decode(new String(bytes, StandardCharsets.US_ASCII).strip());
          Arrays.fill(bytes, (byte) 0);
          bytes = decoded;
        } catch (IllegalArgumentException e) {
          throw new UsageException("Invalid base64 data in secret " + id);
        }
      }
      default ->
          throw new UsageException("Parameter 'format' does not accept value '" + format + "'");
    }
    byte[] old = byId.put(id, bytes);
    if (old != null) {
      Arrays.fill(old, (byte) 0);
    }
  }

  /** The passphrase of secret {@code id} (a copy the caller may wipe), qemu's error if none. */
  byte[] get(String id) {
    byte[] b = byId.get(id);
    if (b == null) {
      throw new IllegalArgumentException("No secret with id '" + id + "'");
    }
    return b.clone();
  }

  /** {@code options} with the passphrase of secret {@code id} (none if {@code id} is null). */
  OpenOptions withKey(OpenOptions options, String id) {
    if (id == null) {
      return options;
    }
    byte[] key = get(id);
    try {
      return options.toBuilder().encryptionKey(key).build();
    } finally {
      Arrays.fill(key, (byte) 0);
    }
  }

  /** An image operand, read as an option string under {@code --image-opts}. */
  ImageSpec spec(String operand, String format) {
    if (!imageOpts) {
      return new ImageSpec(operand, format, null);
    }
    if (format != null) {
      throw new UsageException("--image-opts and --format are mutually exclusive");
    }
    String file = null;
    String driver = null;
    String secret = null;
    for (String item : CreateOptionList.split(operand)) {
      int eq = item.indexOf('=');
      String key = eq < 0 ? item : item.substring(0, eq);
      String v = eq < 0 ? "on" : item.substring(eq + 1);
      switch (key) {
        case "driver" -> driver = v;
        case "file.filename", "file" -> file = v;
        case "encrypt.key-secret" -> secret = v;
        case "file.driver" -> {
          if (!v.equals("file")) {
            throw new UsageException("Unknown protocol driver '" + v + "'");
          }
        }
        default -> throw new UsageException("Invalid parameter '" + key + "'");
      }
    }
    if (file == null) {
      throw new UsageException("A block device must be specified for \"file\"");
    }
    return new ImageSpec(file, driver, secret);
  }

  /**
   * Opens an image operand read-only with {@code options} and its secret; a wrong passphrase is
   * qemu's line, naming the file.
   */
  DiskImage open(ImageSpec spec, OpenOptions options) throws IOException {
    try {
      return Images.open(spec.file(), spec.format(), withKey(options, spec.keySecret()));
    } catch (LuksException e) {
      throw new IOException("Could not open '" + spec.file() + "': " + e.getMessage(), e);
    }
  }

  /**
   * Refuses an encrypted image (LUKS or the legacy AES method) opened without a secret, as qemu
   * refuses to open it: the library opens one (its header can be shown) but could neither read nor
   * write its data.
   */
  static void requireKey(DiskImage image, ImageSpec spec) throws IOException {
    if (spec.keySecret() == null && image.info().encryptFormat() != null) {
      throw new IllegalArgumentException(
          "Could not open '"
              + spec.file()
              + "': Parameter 'encrypt.key-secret' is required for cipher");
    }
  }

  /** Zeroes every passphrase. */
  void wipe() {
    byId.values().forEach(b -> Arrays.fill(b, (byte) 0));
    byId.clear();
  }
}
