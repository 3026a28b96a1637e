package dev.qcow2.remote;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.Timeout.ThreadMode;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;

/** A process killed in the middle of an upload leaves no object under the key. */
class S3UploadKillTest extends S3ServerTest {
  @Test
  @Timeout(value = 120, threadMode = ThreadMode.SEPARATE_THREAD)
  void aChildKilledMidUploadLeavesNoObject() throws Exception {
    String key = "vm/disk.qcow2";
    Path log = dir.resolve("child.err");
    ProcessBuilder pb =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                "-Daws.disableEc2Metadata=true",
                S3UploadChild.class.getName(),
                "s3://" + BUCKET + "/" + key)
            .redirectError(log.toFile());
    pb.environment().putAll(server.env());
    Process child = pb.start();
    try (BufferedReader out =
        new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
      String line = out.readLine();
      assertEquals("UPLOADING", line, "the child's stderr: " + Files.readString(log));
      child.destroyForcibly().waitFor();
    } finally {
      child.destroyForcibly();
    }
    assertThrows(NoSuchKeyException.class, () -> client.headObject(b -> b.bucket(BUCKET).key(key)));
    assertEquals(List.of(), client.listObjectsV2(b -> b.bucket(BUCKET).prefix("vm/")).contents());
    // What a killed upload leaves is an unfinished multipart upload, which is not an object.
    assertEquals(1, client.listMultipartUploads(b -> b.bucket(BUCKET)).uploads().size());
    assertEquals(
        1, S3Upload.abortUnfinished(client, S3Location.parse("s3://" + BUCKET + "/" + key)));
    assertEquals(List.of(), client.listMultipartUploads(b -> b.bucket(BUCKET)).uploads());
  }
}
