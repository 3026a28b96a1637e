package dev.qcow2.tools.canga;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * GnuPG for {@code sign} and {@code verify}: a detached, ASCII-armoured signature of {@code
 * index.yaml} in {@code index.yaml.sig} (Cangallo used keybase, whose {@code pgp sign --detached}
 * writes the same kind of file). gpg's own messages go to standard error.
 */
final class Gpg {
  private final String homedir;

  Gpg(String homedir) {
    this.homedir = homedir;
  }

  List<String> signArgs(Path index, Path signature, String localUser) {
    List<String> argv = base();
    if (localUser != null) {
      argv.addAll(List.of("--local-user", localUser));
    }
    argv.addAll(
        List.of(
            "--yes",
            "--armor",
            "--detach-sign",
            "--output",
            signature.toString(),
            index.toString()));
    return argv;
  }

  List<String> verifyArgs(Path index, Path signature) {
    List<String> argv = base();
    argv.addAll(List.of("--verify", signature.toString(), index.toString()));
    return argv;
  }

  private List<String> base() {
    List<String> argv = new ArrayList<>(List.of("gpg", "--batch"));
    if (homedir != null) {
      argv.addAll(List.of("--homedir", homedir));
    }
    return argv;
  }

  /** Runs gpg with its output copied to {@code err}; returns its exit status. */
  static int run(List<String> argv, PrintStream err) throws IOException {
    Process p;
    try {
      p = new ProcessBuilder(argv).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IOException("cannot run gpg (is GnuPG installed?): " + e.getMessage(), e);
    }
    p.getOutputStream().close();
    p.getInputStream().transferTo(err);
    err.flush();
    try {
      return p.waitFor();
    } catch (InterruptedException e) {
      p.destroy();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while running gpg", e);
    }
  }
}
