package dev.qcow2.tools.canga;

import dev.qcow2.tools.repo.IndexWriter;
import dev.qcow2.tools.repo.Remote;
import dev.qcow2.tools.repo.Repository;
import dev.qcow2.tools.repo.RepositoryIndex;
import java.nio.file.Files;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code canga fetch [REPO]}: download {@code index.yaml} of a repository of {@code type: remote}
 * (anything else: nothing to do, as in Cangallo). Images built locally on top of the remote's
 * (present here but not in the remote index) are kept. When nothing local had to be kept the
 * remote bytes are stored as they are, with {@code index.yaml.sig} when the remote has one, so
 * {@code canga verify} can check the cache.
 */
@Command(name = "fetch", description = "download the index of the repository")
final class FetchCommand extends CangaCommand {
  @Parameters(paramLabel = "REPO", arity = "0..1")
  String repo;

  @Override
  int run() throws Exception {
    Repository r = repos().repo(repo);
    if (!r.settings().isRemote()) {
      return 0;
    }
    if (r.settings().url() == null) {
      throw new IllegalStateException("Repo '" + r.name() + "' has no url");
    }
    Remote remote = new Remote(r.settings().url());
    String text = remote.fetchIndex();
    RepositoryIndex fetched = RepositoryIndex.parse(text);
    byte[] signature = remote.fetchOptional("index.yaml.sig");
    r.locked(() -> {
      RepositoryIndex merged = r.index().mergedInto(fetched, sha -> Files.exists(r.imagePath(sha)));
      boolean verbatim = merged.images().equals(fetched.images()) && merged.tags().equals(fetched.tags());
      IndexWriter.write(r.indexFile(), verbatim ? text : merged.toYaml());
      if (verbatim && signature != null) {
        IndexWriter.write(r.dir().resolve("index.yaml.sig"), signature);
      } else {
        Files.deleteIfExists(r.dir().resolve("index.yaml.sig"));
      }
      return null;
    });
    return 0;
  }
}
