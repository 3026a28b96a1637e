package dev.qcow2.remote;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import software.amazon.awssdk.auth.credentials.AnonymousCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProviderChain;
import software.amazon.awssdk.auth.credentials.AwsSessionCredentials;
import software.amazon.awssdk.auth.credentials.ContainerCredentialsProvider;
import software.amazon.awssdk.auth.credentials.InstanceProfileCredentialsProvider;
import software.amazon.awssdk.auth.credentials.ProfileCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.auth.credentials.WebIdentityTokenFileCredentialsProvider;
import software.amazon.awssdk.profiles.ProfileFile;

/**
 * The credentials an S3 client signs with: the AWS default chain's sources in its order, except
 * that the instance-metadata service (IMDS) is asked only on a machine that is an EC2 instance, and
 * that finding nothing means unsigned (anonymous) requests, so that public buckets are read without
 * credentials.
 *
 * <p>Why not the SDK's {@code DefaultCredentialsProvider} as it is: when it finds nothing else it
 * asks IMDS at 169.254.169.254, which off EC2 costs a connect timeout and retries on every command,
 * and then it throws rather than falling back to anonymous requests. Here the sources are, in the
 * default chain's order: the access key variables, a web identity token (EKS service accounts,
 * through STS), the profile files ({@code AWS_PROFILE}, {@code ~/.aws/credentials} and {@code
 * config}, with SSO, processes and assumed roles), the container endpoint; the network ones only
 * when their variables are set; IMDS is added only when the machine's firmware says it is an EC2
 * instance (DMI vendor or board asset tag, Xen hypervisor UUID) and {@code
 * AWS_EC2_METADATA_DISABLED} is not {@code true}; there the SDK's IMDS client bounds the lookup
 * with its own short timeouts. The chain is resolved once when the client is built; if no source
 * has credentials, the client is anonymous, and an "access denied" answer says so.
 */
final class S3Credentials {
  private S3Credentials() {}

  /**
   * The provider for a client configured by {@code env} (the process environment in production).
   */
  static AwsCredentialsProvider provider(Map<String, String> env) {
    List<AwsCredentialsProvider> sources = new ArrayList<>();
    String keyId = env.get("AWS_ACCESS_KEY_ID");
    String secret = env.get("AWS_SECRET_ACCESS_KEY");
    if (notBlank(keyId) && notBlank(secret)) {
      String token = env.get("AWS_SESSION_TOKEN");
      sources.add(
          StaticCredentialsProvider.create(
              notBlank(token)
                  ? AwsSessionCredentials.create(keyId, secret, token)
                  : AwsBasicCredentials.create(keyId, secret)));
    }
    String tokenFile = env.get("AWS_WEB_IDENTITY_TOKEN_FILE");
    String role = env.get("AWS_ROLE_ARN");
    if (notBlank(tokenFile) && notBlank(role)) {
      sources.add(
          WebIdentityTokenFileCredentialsProvider.builder()
              .webIdentityTokenFile(Path.of(tokenFile))
              .roleArn(role)
              .roleSessionName(env.getOrDefault("AWS_ROLE_SESSION_NAME", "qcow2"))
              .build());
    }
    sources.add(
        ProfileCredentialsProvider.builder()
            .profileFile(profileFile(env))
            .profileName(env.getOrDefault("AWS_PROFILE", "default"))
            .build());
    if (notBlank(env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"))
        || notBlank(env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"))) {
      sources.add(ContainerCredentialsProvider.builder().build());
    }
    if (!"true".equalsIgnoreCase(env.get("AWS_EC2_METADATA_DISABLED")) && isEc2Instance()) {
      sources.add(InstanceProfileCredentialsProvider.builder().build());
    }
    AwsCredentialsProviderChain chain =
        AwsCredentialsProviderChain.builder()
            .credentialsProviders(sources)
            .reuseLastProviderEnabled(true)
            .build();
    try {
      chain.resolveCredentials();
      return chain;
    } catch (RuntimeException none) {
      return AnonymousCredentialsProvider.create();
    }
  }

  /**
   * The profile files, honouring {@code AWS_CONFIG_FILE} and {@code AWS_SHARED_CREDENTIALS_FILE}
   * from {@code env} (the SDK would read them from the process environment only).
   */
  static Supplier<ProfileFile> profileFile(Map<String, String> env) {
    String config = env.get("AWS_CONFIG_FILE");
    String credentials = env.get("AWS_SHARED_CREDENTIALS_FILE");
    if (config == null && credentials == null) {
      return ProfileFile::defaultProfileFile;
    }
    Path home = Path.of(System.getProperty("user.home"), ".aws");
    Path configPath = config != null ? Path.of(config) : home.resolve("config");
    Path credentialsPath = credentials != null ? Path.of(credentials) : home.resolve("credentials");
    ProfileFile.Aggregator files = ProfileFile.aggregator();
    if (Files.isRegularFile(credentialsPath)) {
      files.addFile(
          ProfileFile.builder()
              .content(credentialsPath)
              .type(ProfileFile.Type.CREDENTIALS)
              .build());
    }
    if (Files.isRegularFile(configPath)) {
      files.addFile(
          ProfileFile.builder().content(configPath).type(ProfileFile.Type.CONFIGURATION).build());
    }
    ProfileFile merged = files.build();
    return () -> merged;
  }

  /** Whether this machine's firmware says it is an EC2 instance (Nitro or Xen). */
  static boolean isEc2Instance() {
    return startsWith("/sys/devices/virtual/dmi/id/board_asset_tag", "i-")
        || startsWith("/sys/devices/virtual/dmi/id/sys_vendor", "Amazon EC2")
        || startsWith("/sys/hypervisor/uuid", "ec2");
  }

  private static boolean startsWith(String file, String prefix) {
    try {
      Path p = Path.of(file);
      return Files.isReadable(p)
          && Files.readString(p).strip().toLowerCase().startsWith(prefix.toLowerCase());
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  static boolean notBlank(String s) {
    return s != null && !s.isBlank();
  }
}
