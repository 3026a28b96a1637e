package dev.qcow2.tools.canga;

import dev.qcow2.testing.Qemu;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

/**
 * A gpg home of the test's own with one signing key, "Canga Test <canga@example.org>" (ed25519, no
 * passphrase); closing it stops the agent gpg started for it.
 */
final class TestKeyring implements AutoCloseable {
  /** What gpg --verify says of a signature made with the key. */
  static final String GOOD_SIGNATURE = "Good signature from \"Canga Test <canga@example.org>\"";

  final Path home;
  private final Path dir;

  private TestKeyring(Path dir, Path home) {
    this.dir = dir;
    this.home = home;
  }

  /** Makes the home folder {@code dir/g} (mode 0700, as gpg wants) and its key. */
  static TestKeyring create(Path dir) throws IOException {
    Path home =
        Files.createDirectory(
            dir.resolve("g"),
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    TestKeyring k = new TestKeyring(dir, home);
    Qemu.run(
        dir,
        "gpg",
        "--batch",
        "--homedir",
        home.toString(),
        "--passphrase",
        "",
        "--quick-gen-key",
        "Canga Test <canga@example.org>",
        "ed25519",
        "sign",
        "never");
    return k;
  }

  @Override
  public void close() {
    Qemu.exec(dir, List.of("gpgconf", "--homedir", home.toString(), "--kill", "all"));
  }
}
