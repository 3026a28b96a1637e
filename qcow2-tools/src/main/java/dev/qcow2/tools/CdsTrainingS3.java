package dev.qcow2.tools;

import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.convert.ConvertOptions;
import dev.qcow2.convert.ImageConverter;
import dev.qcow2.remote.RemoteOptions;
import dev.qcow2.remote.RemoteStorage;
import dev.qcow2.remote.S3Clients;
import dev.qcow2.remote.S3ImageStream;
import dev.qcow2.remote.S3Location;
import dev.qcow2.remote.S3RangeSource;
import dev.qcow2.remote.S3RequestException;
import dev.qcow2.remote.S3Upload;
import dev.qcow2.remote.S3UploadOptions;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * The s3:// part of {@link CdsTraining}: the AWS SDK's classes are about 1700 of the 3800 an s3://
 * command loads (measured: {@code qcow2 info s3://...} took 0.75 s unarchived, 0.55 s with them
 * archived). The verbs cannot be run for this, as the CLI's client is configured from the process
 * environment, which a training cannot set; so the same library calls the verbs make are made here,
 * with a client of the training's own against {@link CdsTrainingServer}.
 */
final class CdsTrainingS3 {
  private CdsTrainingS3() {}

  /**
   * Reads the training server's image through S3, converts it, and uploads with one put and with a
   * multipart upload. {@code image} is the local training image; files go only into {@code dir}.
   */
  static void run(URI endpoint, Path image, Path dir) throws IOException {
    try (S3Client client = S3Clients.create(environment(endpoint, dir))) {
      S3Location location =
          S3Location.parse("s3://" + CdsTrainingServer.BUCKET + "/" + CdsTrainingServer.KEY);
      // As RemoteImages opens an s3:// image for info, map, convert and the rest.
      RemoteOptions remote = RemoteOptions.defaults();
      try (DiskImage disk =
          Qcow2Image.open(
              location.toString(),
              RemoteStorage.open(S3RangeSource.open(client, location), remote),
              OpenOptions.defaults(),
              CdsTrainingS3::noBacking)) {
        ImageConverter.convert(
            disk, dir.resolve("s3.raw"), ConvertOptions.builder().targetFormat("raw").build());
      }
      // A name that is not there: the translation of S3's errors into ours.
      try {
        S3RangeSource.open(client, location.resolve("missing.qcow2")).close();
      } catch (S3RequestException e) {
        if (e.reason() != S3RequestException.Reason.NO_SUCH_OBJECT) {
          throw e;
        }
      }
      // As convert -O raw FILE s3://... uploads: a stream holding part 1 back, here in two parts.
      S3UploadOptions options =
          S3UploadOptions.builder()
              .partSize(S3UploadOptions.MIN_PART_SIZE)
              .threads(2)
              .holdFirstPart(true)
              .build();
      try (DiskImage local = DiskImage.open(image, OpenOptions.defaults());
          S3ImageStream out = S3ImageStream.open(client, location.resolve("b.raw"), options)) {
        if (local.size() <= S3UploadOptions.MIN_PART_SIZE) {
          throw new IOException("the training image is too small for a multipart upload");
        }
        ImageConverter.convert(local, out, ConvertOptions.builder().targetFormat("raw").build());
      }
      // As canga's index files go up: one small PutObject with metadata.
      S3Upload.put(
          client,
          location.resolve("index.yaml"),
          ByteBuffer.wrap(new byte[] {'{', '}', '\n'}),
          Map.of("training", "yes"));
    }
  }

  /**
   * A client's settings as {@link S3Clients#shared()} reads them from the environment, none taken
   * from this process's: no region, so that the profile lookup runs as for most users, in files
   * that do not exist inside the training's folder.
   */
  private static Map<String, String> environment(URI endpoint, Path dir) {
    Map<String, String> env = new HashMap<>();
    env.put("AWS_ENDPOINT_URL", endpoint.toString());
    env.put("AWS_ACCESS_KEY_ID", "training");
    env.put("AWS_SECRET_ACCESS_KEY", "training");
    env.put("AWS_CONFIG_FILE", dir.resolve("no-aws-config").toString());
    env.put("AWS_SHARED_CREDENTIALS_FILE", dir.resolve("no-aws-credentials").toString());
    env.put("AWS_EC2_METADATA_DISABLED", "true");
    return env;
  }

  private static DiskImage noBacking(String name, String format, OpenOptions options)
      throws IOException {
    throw new IOException(name + ": the training image has no backing file");
  }
}
