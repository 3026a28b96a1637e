package dev.qcow2.remote;

import java.util.Objects;

/**
 * The version of an object pinned on first contact: its ETag where the server gives one, its
 * Last-Modified time and its length. A strong ETag is sent back as If-Match, so that the server
 * itself refuses a range of another version; every answer is compared with the pin as well, which
 * is all there is for a server without ETags (If-Unmodified-Since is not sent: s3proxy answers it
 * with 412 and its own Last-Modified).
 *
 * @param etag the ETag, or null
 * @param lastModified the Last-Modified header as sent, or null
 * @param length the object's length in bytes
 */
record ObjectVersion(String etag, String lastModified, long length) {

  /**
   * The ETag to send as If-Match, or null: a weak ETag never matches (If-Match compares strongly).
   */
  String ifMatch() {
    return etag != null && !etag.startsWith("W/") ? etag : null;
  }

  /**
   * Refuses an answer that describes another version: a different ETag, Last-Modified or length. A
   * header the answer leaves out is not compared.
   */
  void check(String object, String answerEtag, String answerLastModified, long answerLength)
      throws ObjectChangedException {
    if (answerLength != length) {
      throw changed(object, "its length is now " + answerLength + " bytes, not " + length);
    }
    if (etag != null && answerEtag != null && !etag.equals(answerEtag)) {
      throw changed(object, "its ETag is now " + answerEtag + ", not " + etag);
    }
    if (lastModified != null
        && answerLastModified != null
        && !Objects.equals(lastModified, answerLastModified)) {
      throw changed(object, "it was modified at " + answerLastModified + ", after " + lastModified);
    }
  }

  static ObjectChangedException changed(String object, String why) {
    return new ObjectChangedException(object, "changed while being read (" + why + ")");
  }
}
