package dev.qcow2.testing;

import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The command line of a child JVM that runs a test's main class with the test's classes. */
public final class ChildJvm {
  private ChildJvm() {}

  /**
   * {@code java -cp CLASSES mainClass args}. The core's tests may run on the module path (it has a
   * module-info), where the classes are not on {@code java.class.path}: both paths go to the child,
   * which runs them as a plain class path.
   */
  public static List<String> command(Class<?> mainClass, String... args) {
    return command(List.of(), mainClass, args);
  }

  /** As {@link #command(Class, String...)}, with {@code jvmOptions} before the class path. */
  public static List<String> command(List<String> jvmOptions, Class<?> mainClass, String... args) {
    StringBuilder cp = new StringBuilder();
    for (String property : List.of("jdk.module.path", "java.class.path")) {
      String value = System.getProperty(property);
      if (value != null && !value.isEmpty()) {
        cp.append(cp.length() == 0 ? "" : File.pathSeparator).append(value);
      }
    }
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(jvmOptions);
    command.add("-cp");
    command.add(cp.toString());
    command.add(mainClass.getName());
    command.addAll(List.of(args));
    return command;
  }
}
