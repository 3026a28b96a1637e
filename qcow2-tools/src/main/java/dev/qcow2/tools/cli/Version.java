package dev.qcow2.tools.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import picocli.CommandLine.IVersionProvider;

/** The version Maven wrote into the jar (pom.properties); "dev" when run from classes. */
public final class Version implements IVersionProvider {
  static String number() {
    try (InputStream in =
        Version.class.getResourceAsStream("/META-INF/maven/dev.qcow2/qcow2-tools/pom.properties")) {
      if (in != null) {
        Properties p = new Properties();
        p.load(in);
        return p.getProperty("version", "dev");
      }
    } catch (IOException e) {
      // fall through: an unreadable resource only costs the version number
    }
    return "dev";
  }

  /** The line {@code --version} prints for {@code command}. */
  public static String line(String command) {
    return command + " version " + number() + " (pure Java)";
  }

  @Override
  public String[] getVersion() {
    return new String[] {line("${COMMAND-NAME}")};
  }
}
