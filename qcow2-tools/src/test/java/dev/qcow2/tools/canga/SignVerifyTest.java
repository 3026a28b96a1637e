package dev.qcow2.tools.canga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.tools.Cli;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.DisplayNameGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** sign and verify: a detached gpg signature of index.yaml, with a throw-away key. */
@DisplayNameGeneration(DisplayNameGenerator.ReplaceUnderscores.class)
class SignVerifyTest {
  @TempDir Path dir;
  TestKeyring keyring;

  @AfterEach
  void stopAgent() {
    if (keyring != null) {
      keyring.close();
    }
  }

  @Test
  void should_sign_the_index_and_notice_any_change() throws Exception {
    keyring = TestKeyring.create(dir);
    Path gnupg = keyring.home;
    Canga canga = new Canga(dir);
    canga.ok("add", canga.image("a.qcow2", "1M", "write -P 1 0 4k").toString(), "--tag", "a");
    canga.ok("sign", "--gpg-homedir", gnupg.toString());
    Path sig = canga.defaultRepo().resolve("index.yaml.sig");
    assertTrue(Files.readString(sig).startsWith("-----BEGIN PGP SIGNATURE-----"));
    Cli.Result ok = canga.ok("verify", "--gpg-homedir", gnupg.toString());
    assertTrue(
        ok.stderr().contains("Good signature from \"Canga Test <canga@example.org>\""),
        ok.stderr());

    canga.ok("tag", "b", "a");
    Cli.Result bad = canga.run("verify", "default", "--gpg-homedir", gnupg.toString());
    assertEquals(1, bad.exitCode());
    assertTrue(bad.stderr().contains("BAD signature"), bad.stderr());
    assertTrue(bad.stderr().endsWith("canga: Error executing gpg verify command\n"), bad.stderr());
  }
}
