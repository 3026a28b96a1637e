package dev.qcow2.tools.canga;

import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.Remote;
import dev.qcow2.tools.repo.Repository;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code canga sign [REPO]}: write {@code index.yaml.sig}, a detached gpg signature of the index.
 * For the cache of a writable remote ({@code s3://}) the remote's own {@code index.yaml} is signed
 * and the signature stored beside it; {@code fetch} then brings both, for {@code verify}. A later
 * change to the remote index removes the signature it no longer matches.
 */
@Command(name = "sign", description = "sign the index file with gpg")
final class SignCommand extends CangaCommand {
  @Parameters(paramLabel = "REPO", arity = "0..1")
  String repo;

  @Option(
      names = {"-u", "--local-user"},
      paramLabel = "KEY",
      description = "key to sign with (gpg's default key otherwise)")
  String localUser;

  @Option(
      names = "--gpg-homedir",
      paramLabel = "DIR",
      description = "gpg home folder (default: gpg's own)")
  String homedir;

  @Override
  int run() throws Exception {
    Repository r = repos().repo(repo);
    Gpg gpg = new Gpg(homedir);
    try (Remote remote = FetchCommand.writableRemoteOf(r, cli().env())) {
      if (remote != null) {
        signRemote(r, remote, gpg);
        return 0;
      }
    }
    // Under the index lock, so the signature is of the index as it stays.
    int status =
        r.locked(
            () -> {
              if (!Files.exists(r.indexFile())) {
                r.update(index -> index);
              }
              return Gpg.run(
                  gpg.signArgs(r.indexFile(), r.dir().resolve("index.yaml.sig"), localUser), err());
            });
    check(status);
    return 0;
  }

  private void signRemote(Repository r, Remote remote, Gpg gpg) throws Exception {
    byte[] index = remote.fetchOptional("index.yaml");
    if (index == null
        || !Arrays.equals(index, remote.fetchIndex().getBytes(StandardCharsets.UTF_8))) {
      throw new CangaException(
          "The index of "
              + remote.url()
              + " is "
              + (index == null ? "missing" : "being changed")
              + "; push to it, or sign when the push is done");
    }
    Path dir = Files.createTempDirectory(r.dir(), ".canga-sign-");
    try {
      Path file = Files.write(dir.resolve("index.yaml"), index);
      Path sig = dir.resolve("index.yaml.sig");
      check(Gpg.run(gpg.signArgs(file, sig, localUser), err()));
      remote.store("index.yaml.sig", Files.readAllBytes(sig));
    } finally {
      try (var files = Files.list(dir)) {
        for (Path p : (Iterable<Path>) files::iterator) {
          Files.deleteIfExists(p);
        }
      }
      Files.deleteIfExists(dir);
    }
    FetchCommand.refresh(r, remote);
  }

  private static void check(int status) {
    if (status != 0) {
      throw new IllegalStateException("Error executing gpg sign command");
    }
  }
}
