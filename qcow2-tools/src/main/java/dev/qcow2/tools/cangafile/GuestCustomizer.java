package dev.qcow2.tools.cangafile;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs {@code virt-customize} on an image: the only step of canga that is not native, since it
 * changes files inside the guest. Commands go through {@code --commands-from-file} (libguestfs 1.30
 * or newer); passwords through {@code --password USER:file:F} with F a private temporary file, so
 * they never appear on a command line. libguestfs runs with {@code LIBGUESTFS_BACKEND=direct} and,
 * when {@code /dev/kvm} is not usable, {@code LIBGUESTFS_BACKEND_SETTINGS=force_tcg}; values the
 * user set already are kept.
 */
public final class GuestCustomizer {
  private final String program;
  private final Map<String, String> environment;

  /** virt-customize from PATH, with the environment this process has. */
  public GuestCustomizer() {
    this("virt-customize", System.getenv());
  }

  public GuestCustomizer(String program, Map<String, String> environment) {
    this.program = program;
    this.environment = Map.copyOf(environment);
  }

  /** Whether this user can open /dev/kvm for reading and writing. */
  public static boolean kvmUsable() {
    Path kvm = Path.of("/dev/kvm");
    if (!Files.isReadable(kvm) || !Files.isWritable(kvm)) {
      return false;
    }
    // /dev/kvm may be there and still fail once a vCPU runs (nested virtualisation that lacks
    // MSRs: qemu aborts at once). libguestfs starts qemu with -cpu host, so probe that: a KVM that
    // works keeps the probe running; a broken one kills it within milliseconds.
    try {
      Process p =
          new ProcessBuilder(
                  "qemu-system-x86_64",
                  "-accel",
                  "kvm",
                  "-cpu",
                  "host",
                  "-nodefaults",
                  "-display",
                  "none",
                  "-monitor",
                  "none",
                  "-serial",
                  "none",
                  "-m",
                  "64",
                  "-no-reboot")
              .redirectErrorStream(true)
              .redirectOutput(ProcessBuilder.Redirect.DISCARD)
              .start();
      boolean exited = p.waitFor(1500, java.util.concurrent.TimeUnit.MILLISECONDS);
      if (!exited) {
        p.destroyForcibly();
        return true;
      }
      return false;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /** The libguestfs variables to add to {@code current} (none that it sets already). */
  public static Map<String, String> libguestfsEnvironment(
      Map<String, String> current, boolean kvmUsable) {
    Map<String, String> add = new HashMap<>();
    if (!current.containsKey("LIBGUESTFS_BACKEND")) {
      add.put("LIBGUESTFS_BACKEND", "direct");
    }
    if (!kvmUsable && !current.containsKey("LIBGUESTFS_BACKEND_SETTINGS")) {
      add.put("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg");
    }
    return add;
  }

  /** The text of the {@code --commands-from-file} file: one command per line. */
  public static String commandFile(List<String> lines) {
    StringBuilder sb = new StringBuilder();
    for (String line : lines) {
      sb.append(line).append('\n');
    }
    return sb.toString();
  }

  /**
   * The argument vector: {@code virt-customize -a IMAGE [--password SEL]... --commands-from-file
   * F}.
   */
  public List<String> argv(Path image, List<String> passwordSelectors, Path commandFile) {
    List<String> argv = new ArrayList<>(List.of(program, "-a", image.toString()));
    for (String sel : passwordSelectors) {
      argv.add("--password");
      argv.add(sel);
    }
    argv.add("--commands-from-file");
    argv.add(commandFile.toString());
    return argv;
  }

  /**
   * Applies {@code cangafile}'s tasks to {@code image}; virt-customize's output is copied to {@code
   * out} and {@code err}.
   *
   * @return virt-customize's exit status
   */
  public int customize(Path image, Cangafile cangafile, PrintStream out, PrintStream err)
      throws IOException {
    return customize(image, cangafile.commandLines(), cangafile.passwords(), out, err);
  }

  /** Runs virt-customize with these command lines and passwords on {@code image}. */
  public int customize(
      Path image,
      List<String> commandLines,
      List<Task.Password> passwords,
      PrintStream out,
      PrintStream err)
      throws IOException {
    Path work =
        Files.createTempDirectory(
            "canga",
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    try {
      Path commands = work.resolve("commands");
      Files.writeString(commands, commandFile(commandLines), StandardCharsets.UTF_8);
      List<String> selectors = new ArrayList<>();
      int n = 0;
      for (Task.Password p : passwords) {
        if (p.disabled()) {
          selectors.add(p.user() + ":disabled");
        } else {
          Path secret = work.resolve("password-" + n++);
          Files.writeString(secret, p.password(), StandardCharsets.UTF_8);
          selectors.add(p.user() + ":file:" + secret);
        }
      }
      ProcessBuilder pb = new ProcessBuilder(argv(image, selectors, commands));
      pb.environment().putAll(libguestfsEnvironment(environment, kvmUsable()));
      for (int attempt = 1; ; attempt++) {
        ApplianceWatch watch = new ApplianceWatch(err);
        int status = run(pb, out, watch);
        // An appliance that never started changed nothing; under emulation a launch fails now
        // and then for no reason of the image's, so one more launch is tried.
        if (status == 0 || !watch.neverStarted || attempt == 2) {
          return status;
        }
        err.println("canga: the libguestfs appliance did not start; launching it once more");
      }
    } finally {
      try (var files = Files.list(work)) {
        for (Path f : files.toList()) {
          Files.deleteIfExists(f);
        }
      }
      Files.deleteIfExists(work);
    }
  }

  /**
   * Copies virt-customize's standard error on and notes whether it said the appliance failed to
   * launch (libguestfs's "guestfs_launch failed"): then nothing in the image was touched.
   */
  private static final class ApplianceWatch extends java.io.OutputStream {
    private final PrintStream to;
    private final StringBuilder line = new StringBuilder();
    volatile boolean neverStarted;

    ApplianceWatch(PrintStream to) {
      this.to = to;
    }

    @Override
    public void write(int b) {
      to.write(b);
      if (b == '\n') {
        if (line.indexOf("guestfs_launch failed") >= 0) {
          neverStarted = true;
        }
        line.setLength(0);
      } else if (line.length() < 4096) {
        line.append((char) b);
      }
    }

    @Override
    public void flush() {
      to.flush();
    }
  }

  private int run(ProcessBuilder pb, PrintStream out, ApplianceWatch watch) throws IOException {
    Process process;
    try {
      process = pb.start();
    } catch (IOException e) {
      throw new IOException(
          "cannot run " + program + " (is libguestfs-tools installed?): " + e.getMessage(), e);
    }
    process.getOutputStream().close();
    Thread o = pump(process.getInputStream(), out);
    Thread e = pump(process.getErrorStream(), new PrintStream(watch, true));
    try {
      int status = process.waitFor();
      o.join();
      e.join();
      return status;
    } catch (InterruptedException ie) {
      process.destroy();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while running " + program, ie);
    }
  }

  private static Thread pump(InputStream in, PrintStream to) {
    Thread t =
        new Thread(
            () -> {
              try (in) {
                byte[] buf = new byte[8192];
                int n;
                while ((n = in.read(buf)) > 0) {
                  to.write(buf, 0, n);
                  to.flush();
                }
              } catch (IOException e) {
                throw new UncheckedIOException(e);
              }
            },
            "canga-pump");
    t.start();
    return t;
  }
}
