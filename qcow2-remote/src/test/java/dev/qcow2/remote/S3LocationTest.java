package dev.qcow2.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class S3LocationTest {
  @Test
  void parsesBucketAndKey() throws Exception {
    S3Location l = S3Location.parse("s3://my-bucket.v2/images/base.qcow2");
    assertEquals("my-bucket.v2", l.bucket());
    assertEquals("images/base.qcow2", l.key());
    assertTrue(l.isObject());
    assertEquals("s3://my-bucket.v2/images/", l.folder().toString());
    assertFalse(l.folder().isObject());
    assertEquals("s3://my-bucket.v2/", S3Location.parse("s3://my-bucket.v2").toString());
    assertTrue(S3Location.isS3("S3://x/y"));
    assertFalse(S3Location.isS3("/tmp/s3://x"));
  }

  @Test
  void refusesBadBucketNames() {
    for (String bad :
        new String[] {
          "s3://ab/x",
          "s3://Upper/x",
          "s3://-lead/x",
          "s3://trail-/x",
          "s3://under_score/x",
          "s3:///x",
          "http://bucket/x"
        }) {
      IOException e = assertThrows(IOException.class, () -> S3Location.parse(bad), bad);
      assertTrue(e.getMessage().startsWith(bad + ": "), e.getMessage());
    }
  }

  @Test
  void resolvesBackingNamesInsideTheFolderOnly() throws Exception {
    S3Location image = S3Location.parse("s3://repo/cangallo/abc.qcow2");
    assertEquals("s3://repo/cangallo/def.qcow2", image.resolve("def.qcow2").toString());
    assertEquals("s3://repo/cangallo/sub/def.qcow2", image.resolve("sub/def.qcow2").toString());
    assertEquals(
        "s3://repo/top.qcow2",
        S3Location.parse("s3://repo/child.qcow2").resolve("top.qcow2").toString());
    for (String bad :
        new String[] {
          "",
          "/abs.qcow2",
          "../up.qcow2",
          "sub/../../up.qcow2",
          "./x.qcow2",
          "a//b.qcow2",
          "sub/",
          "json:{\"file\":\"x\"}",
          "s3://other/x.qcow2",
          "http://host/x.qcow2",
          "a\\..\\b"
        }) {
      IOException e = assertThrows(IOException.class, () -> image.resolve(bad), bad);
      assertTrue(
          e.getMessage()
              .startsWith("s3://repo/cangallo/abc.qcow2: backing file name \"" + bad + "\" "),
          e.getMessage());
      assertTrue(
          e.getMessage().endsWith("; only names inside s3://repo/cangallo/ are followed"),
          e.getMessage());
    }
  }
}
