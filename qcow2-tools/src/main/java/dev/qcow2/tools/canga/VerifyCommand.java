package dev.qcow2.tools.canga;

import dev.qcow2.tools.repo.Repository;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code canga verify [REPO]}: check {@code index.yaml.sig} against the index with gpg. For the
 * cache of a remote, that is the index and signature as the last {@code fetch} brought them (a
 * fetch keeps the signature only with the remote's index byte for byte).
 */
@Command(name = "verify", description = "verify index signature with gpg")
final class VerifyCommand extends CangaCommand {
  @Parameters(paramLabel = "REPO", arity = "0..1")
  String repo;

  @Option(
      names = "--gpg-homedir",
      paramLabel = "DIR",
      description = "gpg home folder (default: gpg's own)")
  String homedir;

  @Override
  int run() throws Exception {
    Repository r = repos().repo(repo);
    Gpg gpg = new Gpg(homedir);
    int status =
        r.locked(
            () -> Gpg.run(gpg.verifyArgs(r.indexFile(), r.dir().resolve("index.yaml.sig")), err()));
    if (status != 0) {
      throw new IllegalStateException("Error executing gpg verify command");
    }
    return 0;
  }
}
