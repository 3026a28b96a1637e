package dev.qcow2.tools.canga;

import dev.qcow2.tools.cli.ProgressBar;
import dev.qcow2.tools.deploy.Deployer;
import dev.qcow2.tools.deploy.DownloadCache;
import dev.qcow2.tools.deploy.ImageType;
import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.Repositories;
import dev.qcow2.tools.repo.RepositoryConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code canga deploy SOURCE TARGET [--type T] [--hooks DIR]}: a repository image, a file or an
 * http(s) URL written onto a block device or a file (Ganeti's instance-simpleimage workflow).
 */
@Command(
    name = "deploy",
    description = "write an image (repository image, file or URL) onto a disk or file")
final class DeployCommand extends CangaCommand {
  @Parameters(index = "0", paramLabel = "SOURCE")
  String source;

  @Parameters(index = "1", paramLabel = "TARGET")
  Path target;

  @Option(
      names = "--type",
      paramLabel = "TYPE",
      description = "raw, raw+gz, raw+bz2, raw+xz or qcow2 (default: detected from the content)")
  String type;

  @Option(
      names = "--hooks",
      paramLabel = "DIR",
      description = "run the executables in DIR afterwards, in name order")
  Path hooks;

  @Override
  int run() throws Exception {
    ImageType t = type == null ? null : ImageType.of(type);
    if (hooks != null && !Files.isDirectory(hooks)) {
      throw new CangaException("hooks folder " + hooks + " does not exist");
    }
    String knownSha = null;
    Path file;
    if (source.startsWith("http://") || source.startsWith("https://")) {
      RepositoryConfig config = repos().config();
      DownloadCache cache =
          new DownloadCache(config.cacheDir(), config.cacheMaxDays(), config.proxy(), cli().env());
      try {
        file = cache.get(source, null);
      } catch (IOException e) {
        throw new CangaException(e.getMessage());
      }
    } else if (Files.exists(Path.of(source))) {
      file = Path.of(source);
    } else {
      Repositories.Found found = repos().find(source);
      if (found == null) {
        throw new CangaException(
            "Image not found: " + source + " (not a repository image, file or URL)");
      }
      file = found.repo().imagePath(found.sha256());
      if (!Files.exists(file)) {
        throw new CangaException(
            "The file of image " + found.sha256() + " is not present (pull it first)");
      }
      knownSha = found.sha256();
    }
    Deployer.Result result;
    try {
      long size = Files.size(file);
      ProgressBar bar = System.console() != null ? new ProgressBar(err(), size) : null;
      result = Deployer.deploy(file, t, target, knownSha, bar);
      if (bar != null) {
        bar.finish();
      }
      out()
          .print(
              "Deployed "
                  + source
                  + " ("
                  + result.type().label()
                  + ") to "
                  + target
                  + ": "
                  + result.bytes()
                  + " bytes, sha256 "
                  + result.sha256()
                  + "\n");
      out().flush();
      Map<String, String> facts = new LinkedHashMap<>();
      facts.put("TARGET_DISK_DEVICE", target.toString());
      facts.put("IMAGE_SOURCE", source);
      facts.put("IMAGE_TYPE", result.type().label());
      facts.put("IMAGE_SHA256", result.sha256());
      Deployer.runHooks(hooks, facts, out());
    } catch (Deployer.DeployException e) {
      throw new CangaException(e.getMessage());
    } catch (IOException e) {
      throw new CangaException(
          "deploy of " + source + " to " + target + " failed: " + e.getMessage());
    }
    return 0;
  }
}
