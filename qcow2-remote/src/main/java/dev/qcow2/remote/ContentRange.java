package dev.qcow2.remote;

/**
 * A Content-Range header of a byte range (RFC 9110, 14.4): {@code bytes FIRST-LAST/LENGTH} in a 206
 * answer, {@code bytes *}{@code /LENGTH} in a 416 answer. An unknown length ({@code /*}) is
 * refused: an object whose length we cannot pin cannot be read safely.
 *
 * @param first the first byte sent, or -1 for an unsatisfied range
 * @param last the last byte sent (inclusive), or -1
 * @param length the object's whole length
 */
record ContentRange(long first, long last, long length) {

  /** Parses {@code header}, or returns null if it is missing or not a byte range we can use. */
  static ContentRange parse(String header) {
    if (header == null) {
      return null;
    }
    String h = header.trim();
    if (!h.regionMatches(true, 0, "bytes ", 0, 6)) {
      return null;
    }
    h = h.substring(6).trim();
    int slash = h.indexOf('/');
    if (slash < 0) {
      return null;
    }
    try {
      long length = Long.parseLong(h.substring(slash + 1).trim());
      String range = h.substring(0, slash).trim();
      if (range.equals("*")) {
        return length >= 0 ? new ContentRange(-1, -1, length) : null;
      }
      int dash = range.indexOf('-');
      if (dash <= 0) {
        return null;
      }
      long first = Long.parseLong(range.substring(0, dash));
      long last = Long.parseLong(range.substring(dash + 1));
      if (first < 0 || last < first || last >= length) {
        return null;
      }
      return new ContentRange(first, last, length);
    } catch (NumberFormatException e) {
      return null;
    }
  }

  /** The number of bytes the range holds. */
  long size() {
    return first < 0 ? 0 : last - first + 1;
  }
}
