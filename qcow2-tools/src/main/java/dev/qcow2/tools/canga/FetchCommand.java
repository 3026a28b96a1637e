package dev.qcow2.tools.canga;

import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.IndexWriter;
import dev.qcow2.tools.repo.Remote;
import dev.qcow2.tools.repo.Repository;
import dev.qcow2.tools.repo.RepositoryIndex;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code canga fetch [REPO]}: download the index of a repository of {@code type: remote} (anything
 * else: nothing to do, as in Cangallo). Images built locally on top of the remote's (present here
 * but not in the remote index) are kept. When nothing local had to be kept the remote bytes are
 * stored as they are, with {@code index.yaml.sig} when the remote has one, so {@code canga verify}
 * can check the cache.
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
    try (Remote remote = remoteOf(r, cli().env())) {
      refresh(r, remote);
    }
    return 0;
  }

  /** The remote that the {@code url} of {@code r} names, configured from {@code env}. */
  static Remote remoteOf(Repository r, Map<String, String> env) throws IOException {
    if (r.settings().url() == null) {
      throw new CangaException("Repository '" + r.name() + "' has no url");
    }
    return Remote.open(r.settings(), env);
  }

  /**
   * The remote of {@code r} if it is a {@code type: remote} repository whose url names a writable
   * store, where {@code del}, {@code tag}, {@code deltag} and {@code sign} make their changes
   * first; else null (a local repository, or the cache of a read-only remote, changed alone).
   */
  static Remote writableRemoteOf(Repository r, Map<String, String> env) throws IOException {
    if (!r.settings().isRemote() || r.settings().url() == null) {
      return null;
    }
    Remote remote = Remote.open(r.settings(), env);
    if (!remote.writable()) {
      remote.close();
      return null;
    }
    return remote;
  }

  /** Replaces the cached index of {@code r} with the remote's, keeping what was built here. */
  static void refresh(Repository r, Remote remote) throws IOException {
    String text = remote.fetchIndex();
    RepositoryIndex fetched;
    try {
      fetched = RepositoryIndex.parse(text);
    } catch (IllegalArgumentException | com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new CangaException(
          remote.url()
              + "index.yaml: not a Cangallo index: "
              + e.getMessage().replaceAll("\\s*[\\r\\n]+\\s*", " "));
    }
    byte[] signature = remote.fetchOptional("index.yaml.sig");
    r.locked(
        () -> {
          RepositoryIndex merged =
              r.index().mergedInto(fetched, sha -> Files.exists(r.imagePath(sha)));
          boolean verbatim =
              merged.images().equals(fetched.images()) && merged.tags().equals(fetched.tags());
          IndexWriter.write(r.indexFile(), verbatim ? text : merged.toYaml());
          if (verbatim && signature != null) {
            IndexWriter.write(r.dir().resolve("index.yaml.sig"), signature);
          } else {
            Files.deleteIfExists(r.dir().resolve("index.yaml.sig"));
          }
          return null;
        });
  }
}
