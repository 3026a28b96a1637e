package dev.qcow2.remote;

import java.nio.ByteBuffer;
import java.util.Random;

/**
 * A process that uploads an object and never finishes: once the store has two parts it stops
 * writing, lets any part still in flight land, says "UPLOADING" and waits to be killed (or gives up
 * after about a minute). It is killed between parts: s3proxy's file store, unlike S3, keeps a
 * broken part file when a part's body is cut off, and then fails every listing of the bucket's
 * uploads with a 500. Configured from its environment, as the tools are.
 */
public final class S3UploadChild {
  private S3UploadChild() {}

  public static void main(String[] args) throws Exception {
    S3Location target = S3Location.parse(args[0]);
    S3UploadOptions options =
        S3UploadOptions.builder().partSize(S3UploadOptions.MIN_PART_SIZE).threads(2).build();
    S3Upload upload = S3Upload.start(S3Clients.shared(), target, options);
    byte[] chunk = new byte[1 << 20];
    Random random = new Random(11);
    for (int i = 0; i < 600 && upload.partsUploaded() < 2; i++) {
      random.nextBytes(chunk);
      upload.write(ByteBuffer.wrap(chunk));
    }
    Thread.sleep(3000);
    System.out.println("UPLOADING");
    System.out.flush();
    Thread.sleep(60_000);
    System.exit(3);
  }
}
