package dev.qcow2.tools.canga;

import dev.qcow2.tools.repo.Repository;
import java.nio.file.Files;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code canga sign [REPO]}: write {@code index.yaml.sig}, a detached gpg signature of the index. */
@Command(name = "sign", description = "sign the index file with gpg")
final class SignCommand extends CangaCommand {
  @Parameters(paramLabel = "REPO", arity = "0..1")
  String repo;

  @Option(names = {"-u", "--local-user"}, paramLabel = "KEY", description = "key to sign with (gpg's default key otherwise)")
  String localUser;

  @Option(names = "--gpg-homedir", paramLabel = "DIR", description = "gpg home folder (default: gpg's own)")
  String homedir;

  @Override
  int run() throws Exception {
    Repository r = repos().repo(repo);
    Gpg gpg = new Gpg(homedir);
    // Under the index lock, so the signature is of the index as it stays.
    int status = r.locked(() -> {
      if (!Files.exists(r.indexFile())) {
        r.update(index -> index);
      }
      return Gpg.run(gpg.signArgs(r.indexFile(), r.dir().resolve("index.yaml.sig"), localUser), err());
    });
    if (status != 0) {
      throw new IllegalStateException("Error executing gpg sign command");
    }
    return 0;
  }
}
