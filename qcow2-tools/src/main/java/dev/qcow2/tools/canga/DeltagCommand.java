package dev.qcow2.tools.canga;

import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.Remote;
import dev.qcow2.tools.repo.Repositories;
import dev.qcow2.tools.repo.Repository;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code canga deltag TAGNAME} (alias {@code rmtag}): delete a tag, from the named repository, or
 * else from the first repository holding it (the default one first). Unlike Cangallo, a tag living
 * in another repository than the default one is found. In the cache of a writable remote ({@code
 * s3://}) the tag is removed from the remote first.
 */
@Command(name = "deltag", aliases = "rmtag", description = "delete a tag")
final class DeltagCommand extends CangaCommand {
  @Parameters(paramLabel = "TAGNAME")
  String tag;

  @Override
  int run() throws Exception {
    String[] parsed = Repositories.parseName(tag);
    String name = parsed[1];
    List<String> order = new ArrayList<>();
    if (parsed[0] != null) {
      order.add(parsed[0]);
    } else {
      order.add(repos().config().defaultRepo());
      repos().config().names().stream().filter(n -> !order.contains(n)).forEach(order::add);
    }
    for (String n : order) {
      Repository r = repos().repo(n);
      if (r.index().tags().containsKey(name)) {
        try (Remote remote = FetchCommand.writableRemoteOf(r, cli().env())) {
          if (remote != null) {
            remote.deltag(name);
          }
        }
        r.update(index -> index.withoutTag(name));
        return 0;
      }
    }
    throw new CangaException("Image \"" + name + "\" not found");
  }
}
