package dev.qcow2.remote;

import java.nio.ByteBuffer;
import java.util.Random;

/**
 * A process that uploads an object and never finishes: it says "UPLOADING" once the store has
 * two parts, then goes on writing slowly until it is killed (or gives up after about a minute).
 * Configured from its environment, as the tools are.
 */
public final class S3UploadChild {
  private S3UploadChild() {}

  public static void main(String[] args) throws Exception {
    S3Location target = S3Location.parse(args[0]);
    S3UploadOptions options = S3UploadOptions.builder().partSize(S3UploadOptions.MIN_PART_SIZE).threads(2).build();
    S3Upload upload = S3Upload.start(S3Clients.shared(), target, options);
    byte[] chunk = new byte[1 << 20];
    Random random = new Random(11);
    boolean said = false;
    for (int i = 0; i < 600; i++) {
      random.nextBytes(chunk);
      upload.write(ByteBuffer.wrap(chunk));
      if (!said && upload.partsUploaded() >= 2) {
        System.out.println("UPLOADING");
        System.out.flush();
        said = true;
      }
      if (said) {
        Thread.sleep(100);
      }
    }
    System.exit(3);
  }
}
