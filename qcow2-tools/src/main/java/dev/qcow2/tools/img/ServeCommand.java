package dev.qcow2.tools.img;

import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.nbd.ServerOptions;
import dev.qcow2.nbd.Serving;
import dev.qcow2.nbd.TlsCredentials;
import dev.qcow2.tools.cli.UsageException;
import java.io.File;
import java.io.IOException;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;

/**
 * {@code qcow2 serve}: exports an image over NBD, with qemu-nbd's options, defaults and meanings,
 * except that it listens on loopback unless {@code -b} says otherwise, and then only with TLS.
 * SIGTERM and SIGINT flush and close the image before the process ends.
 */
final class ServeCommand extends Verb {
  /** Set in the child of {@code --fork}: the file it creates once it serves. */
  private static final String READY_ENV = "QCOW2_SERVE_READY";

  private static final long FORK_WAIT_SECONDS = 60;

  ServeCommand() {
    super(
        "serve",
        "Export an image over NBD (as qemu-nbd); a URL read-only.",
        "FILE|URL",
        1,
        1,
        Opt.value("-f,--format", "FMT", "Image format: qcow2 or raw (default: detect)."),
        Opt.flag("-r,--read-only", "Export read-only (a raw image is always read-only)."),
        Opt.value("-x,--export-name", "NAME", "The export's name (default: empty)."),
        Opt.value("-D,--description", "TEXT", "The export's description."),
        Opt.value("-p,--port", "PORT", "TCP port to listen on (default 10809)."),
        Opt.value("-b,--bind", "ADDR", "Address to listen on (default 127.0.0.1)."),
        Opt.value("-k,--socket", "PATH", "Listen on a Unix socket instead of TCP."),
        Opt.value("-e,--shared", "NUM", "Clients served at once; 0 for no limit (default 1)."),
        Opt.flag("-t,--persistent", "Keep serving when the last client leaves."),
        Opt.value("--discard", "MODE", "What trim requests do: ignore (default) or unmap."),
        Opt.flag("-A,--allocation-depth", "Offer the qemu:allocation-depth metadata context."),
        Opt.value(
            "-B,--bitmap",
            "NAME",
            "Offer the persistent dirty bitmap NAME as the qemu:dirty-bitmap:NAME metadata "
                + "context (repeatable)."),
        Opt.value(
            "-l,--load-snapshot",
            "SNAPSHOT",
            "Export an internal snapshot, read-only: "
                + "snapshot.id=ID and/or snapshot.name=NAME, or an id or a name."),
        Opt.flag(
            "--fork", "Return once the server is ready, leaving it running in the background."),
        Opt.value("--pid-file", "FILE", "Write the serving process's id to FILE."),
        Opt.value(
            "--handshake-limit",
            "N",
            "Seconds a client has to finish its handshake; 0 for " + "no limit (default 10)."),
        Opt.value(
            "--object",
            "OBJECT",
            "tls-creds-x509,id=ID,dir=DIR,endpoint=server[,verify-peer=on|off]: TLS credentials, "
                + "the files qemu reads in DIR; secret,id=ID,data=DATA|file=FILE[,format=base64]: "
                + "an image passphrase named by encrypt.key-secret=ID (repeatable)."),
        Secrets.IMAGE_OPTS,
        Opt.value("--tls-creds", "ID", "Require TLS with the credentials object ID."));
  }

  String format;
  boolean readOnly;
  String exportName = "";
  String description;
  Integer port;
  String bind;
  String socket;
  int shared = 1;
  boolean persistent;
  boolean discard;
  boolean allocationDepth;
  String snapshot;
  boolean fork;
  String pidFile;
  int handshakeLimit = 10;
  String tlsObjectId;
  Path tlsDir;
  boolean tlsVerifyPeer = true;
  String tlsCreds;
  String file;

  /** qemu-nbd's {@code --object secret} and {@code --image-opts}, as the other verbs take them. */
  final Secrets secrets = new Secrets();

  /** The -B names, as qemu-nbd lists their contexts: the last given first. */
  final List<String> bitmaps = new ArrayList<>();

  @Override
  void set(String key, String value) {
    switch (key) {
      case "-f" -> format = value;
      case "-r" -> readOnly = true;
      case "-x" -> exportName = value;
      case "-D" -> description = value;
      case "-p" -> port = port(value);
      case "-b" -> bind = value;
      case "-k" -> socket = value;
      case "-e" -> shared = nonNegative(key, value);
      case "-t" -> persistent = true;
      case "--discard" -> discard = discardMode(value);
      case "-A" -> allocationDepth = true;
      case "-B" -> bitmaps.add(0, value); // qemu-nbd prepends each -B to its list
      case "--image-opts" -> secrets.imageOpts = true;
      case "-l" -> snapshot = value;
      case "--fork" -> fork = true;
      case "--pid-file" -> pidFile = value;
      case "--object" -> object(value);
      case "--tls-creds" -> tlsCreds = value;
      default -> handshakeLimit = nonNegative(key, value); // --handshake-limit
    }
  }

  private static int port(String value) {
    int p = Images.integerOr(value, -1);
    if (p < 0 || p > 65535) {
      throw new UsageException("Invalid port '" + value + "'");
    }
    return p;
  }

  private static int nonNegative(String option, String value) {
    int n = Images.integer(option, value);
    if (n < 0) {
      throw new UsageException(
          "Invalid value for option '" + option + "': '" + value + "' is negative");
    }
    return n;
  }

  /** qemu's {@code --object}: TLS credentials, or a secret for an encrypted image. */
  private void object(String value) {
    List<String> items = CreateOptionList.split(value);
    String type = items.isEmpty() ? "" : items.get(0);
    switch (type.startsWith("qom-type=") ? type.substring("qom-type=".length()) : type) {
      case "tls-creds-x509" -> tlsObject(items);
      case "secret" -> secrets.object(value);
      default ->
          throw new UsageException(
              "--object: only secret and tls-creds-x509 objects are supported: '" + value + "'");
    }
  }

  /** qemu's {@code --object tls-creds-x509,...}: the files of {@link TlsCredentials}. */
  private void tlsObject(List<String> items) {
    String endpoint = "client"; // qemu's default, which a server cannot use
    for (String item : items.subList(1, items.size())) {
      int eq = item.indexOf('=');
      String key = eq < 0 ? item : item.substring(0, eq);
      String v = eq < 0 ? "on" : item.substring(eq + 1);
      switch (key) {
        case "id" -> tlsObjectId = v;
        case "dir" -> tlsDir = Path.of(v);
        case "endpoint" -> endpoint = v;
        case "verify-peer" ->
            tlsVerifyPeer =
                switch (v) {
                  case "on", "yes", "true" -> true;
                  case "off", "no", "false" -> false;
                  default ->
                      throw new UsageException(
                          "--object: verify-peer must be on or off: '" + v + "'");
                };
        default ->
            throw new UsageException("--object: tls-creds-x509 has no property '" + key + "'");
      }
    }
    if (tlsObjectId == null || tlsDir == null) {
      throw new UsageException("--object: tls-creds-x509 needs id=ID and dir=DIR");
    }
    if (!endpoint.equals("server")) {
      throw new UsageException("Expecting TLS credentials with a server endpoint");
    }
  }

  private static boolean discardMode(String value) {
    return switch (value) {
      case "ignore", "off" -> false;
      case "unmap", "on" -> true;
      default ->
          throw new UsageException("Invalid discard option '" + value + "' (ignore or unmap)");
    };
  }

  @Override
  void operands(List<String> values) {
    file = values.get(0);
  }

  @Override
  int run() throws Exception {
    if (socket != null && (port != null || bind != null)) {
      throw new UsageException("-k cannot be used with -p or -b");
    }
    if (tlsCreds != null && !tlsCreds.equals(tlsObjectId)) {
      throw new UsageException("No TLS credentials with id '" + tlsCreds + "'");
    }
    if (tlsCreds != null && socket != null) {
      throw new UsageException("TLS is offered over TCP only, not with -k");
    }
    if (fork && System.getenv(READY_ENV) == null) {
      secrets.wipe(); // the child reads its own command line
      return forkServer();
    }
    SocketAddress address =
        socket != null
            ? UnixDomainSocketAddress.of(socket)
            : Serving.tcpAddress(bind, port, tlsCreds != null);
    ServerOptions options = options();
    Serving serving =
        Serving.start(
            open(),
            address,
            options,
            e -> {
              err.print("qcow2: " + file + ": " + e.getMessage() + "\n");
              err.flush();
            },
            this::removePidFile);
    try {
      writePidFile();
      signalReady();
    } catch (IOException e) {
      serving.stop();
      throw e;
    }
    return serving.await() ? 0 : 1;
  }

  /**
   * Writable when it can be: a local qcow2 image, not -r, not a snapshot. An encrypted image is
   * unlocked with the secret its {@code --image-opts} operand names; the passphrases are wiped once
   * it is open.
   */
  private DiskImage open() throws IOException {
    Secrets.ImageSpec spec;
    DiskImage image;
    try {
      spec = secrets.spec(file, format);
      image = open(spec);
    } finally {
      secrets.wipe();
    }
    try {
      Secrets.requireKey(image, spec); // qemu-nbd cannot open it either
    } catch (RuntimeException e) {
      image.close();
      throw e;
    }
    return image;
  }

  private DiskImage open(Secrets.ImageSpec spec) throws IOException {
    String name = spec.file();
    String fmt = spec.format();
    OpenOptions options =
        snapshot != null ? ConvertCommand.snapshotOptions(snapshot) : OpenOptions.defaults();
    if (Images.isRemote(name)) {
      if (!readOnly) {
        throw new UsageException(name + ": a remote image can only be served read-only (-r)");
      }
      return secrets.open(spec, options);
    }
    boolean raw = "raw".equals(fmt) || (fmt == null && !DiskImage.isQcow2(Path.of(name)));
    if (readOnly || snapshot != null || raw) {
      if (raw && !readOnly) {
        err.print("qcow2: warning: " + name + " is raw, which this server exports read-only\n");
        err.flush();
      }
      return secrets.open(spec, options);
    }
    // An unknown format gets Images' error.
    return secrets.open(spec, options.toBuilder().writable(true).build());
  }

  private ServerOptions options() throws IOException {
    SSLContext tls = tlsCreds == null ? null : TlsCredentials.x509(tlsDir, tlsVerifyPeer);
    return ServerOptions.builder()
        .tls(tls, tlsVerifyPeer)
        .exportName(exportName)
        .description(description)
        .readOnly(readOnly)
        .maxConnections(shared)
        .persistent(persistent)
        .handshakeLimit(Duration.ofSeconds(handshakeLimit))
        .discard(discard)
        .allocationDepth(allocationDepth)
        .bitmaps(bitmaps)
        .build();
  }

  private void removePidFile() {
    if (pidFile != null) {
      try {
        Files.deleteIfExists(Path.of(pidFile));
      } catch (IOException ignored) {
        // A pid file that cannot be removed names a process that no longer exists.
      }
    }
  }

  private void writePidFile() throws IOException {
    if (pidFile != null) {
      Files.writeString(
          Path.of(pidFile), ProcessHandle.current().pid() + "\n", StandardCharsets.US_ASCII);
    }
  }

  private static void signalReady() throws IOException {
    String ready = System.getenv(READY_ENV);
    if (ready != null) {
      Files.writeString(Path.of(ready), "ready\n", StandardCharsets.US_ASCII);
    }
  }

  /**
   * This process's command line: from /proc where there is one, since the JDK gives none when it is
   * longer than a page (a long class path).
   */
  private static List<String> commandLine() throws IOException {
    Path proc = Path.of("/proc/self/cmdline");
    if (Files.isReadable(proc)) {
      String all = Files.readString(proc, StandardCharsets.UTF_8);
      List<String> args =
          List.of((all.endsWith("\0") ? all.substring(0, all.length() - 1) : all).split("\0", -1));
      if (!args.get(0).isEmpty()) {
        return args;
      }
    }
    ProcessHandle.Info self = ProcessHandle.current().info();
    if (self.command().isEmpty() || self.arguments().isEmpty()) {
      throw new IllegalStateException(
          "--fork: cannot find this process's command line to start the server");
    }
    List<String> command = new ArrayList<>();
    command.add(self.command().get());
    command.addAll(List.of(self.arguments().get()));
    return command;
  }

  /**
   * --fork without fork(2): runs this same command line again as a child told by {@link #READY_ENV}
   * to serve in the foreground, and returns once the child says it serves. A child that dies first
   * has its error shown.
   */
  private int forkServer() throws Exception {
    List<String> command = commandLine();
    Path dir = Files.createTempDirectory("qcow2-serve");
    Path ready = dir.resolve("ready");
    Path log = dir.resolve("stderr");
    ProcessBuilder pb =
        new ProcessBuilder(command)
            .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .redirectError(log.toFile());
    pb.environment().put(READY_ENV, ready.toString());
    Process child = pb.start();
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(FORK_WAIT_SECONDS);
      while (!Files.exists(ready)) {
        if (child.waitFor(20, TimeUnit.MILLISECONDS)) {
          String why = Files.readString(log).strip();
          err.print(
              why.isEmpty()
                  ? "qcow2: the server exited with status " + child.exitValue() + "\n"
                  : why + "\n");
          err.flush();
          return child.exitValue() == 0 ? 1 : child.exitValue();
        }
        if (System.nanoTime() > deadline) {
          child.destroy();
          throw new IOException(
              "--fork: the server did not start within " + FORK_WAIT_SECONDS + " s");
        }
      }
      return 0;
    } finally {
      Files.deleteIfExists(ready);
      Files.deleteIfExists(log);
      Files.deleteIfExists(dir);
    }
  }
}
