package dev.qcow2;

import java.nio.charset.StandardCharsets;

/**
 * One header extension as stored after the header: a 4-byte type, a 4-byte length, then the data
 * padded to a multiple of 8. Extensions we do not know are kept as they are, so that rewriting the
 * header preserves them as the specification asks.
 *
 * @param type the extension's magic number
 * @param hostOffset where the extension's type field lies in the image file
 * @param data the extension's data without padding
 */
record HeaderExtension(int type, long hostOffset, byte[] data) {
  static final int END = 0x00000000;
  static final int BACKING_FORMAT = 0xE2792ACA;
  static final int FEATURE_NAME_TABLE = 0x6803F857;
  static final int BITMAPS = 0x23852875;
  static final int FULL_DISK_ENCRYPTION = 0x0537BE77;
  static final int EXTERNAL_DATA_FILE = 0x44415441;

  /** The data as a string, for the extensions that hold a name. */
  String text() {
    return new String(data, StandardCharsets.UTF_8);
  }
}
