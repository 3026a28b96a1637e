package dev.qcow2.tools.cangafile;

import java.util.List;

/**
 * One step of a Cangafile's {@code tasks}, rendered as Cangallo renders it: lines of a
 * virt-customize {@code --commands-from-file} file, or (for passwords) a virt-customize option.
 */
public sealed interface Task {
  /** The command-file lines of this task, in order (none for a password). */
  List<String> lines();

  /** {@code copy: "SRC DST"}: copy a host file or folder into a guest folder. */
  record Copy(String source, String destination) implements Task {
    @Override
    public List<String> lines() {
      return List.of("copy-in " + source + ":" + destination);
    }
  }

  /** {@code run:} a list of shell commands, or one string with one command per line. */
  record Run(List<String> commands) implements Task {
    public Run {
      commands = List.copyOf(commands);
    }

    @Override
    public List<String> lines() {
      return commands.stream().map(c -> "run-command " + c).toList();
    }
  }

  /**
   * {@code change: {file, regexp, text}}: {@code sed -i 's/REGEXP/TEXT/g' FILE} in the guest. As in
   * Cangallo, {@code /} is escaped in REGEXP; unlike it, also in TEXT, single quotes are escaped
   * for the shell, and FILE is quoted when it needs to be.
   */
  record Change(String file, String regexp, String text) implements Task {
    @Override
    public List<String> lines() {
      return List.of(
          "run-command sed -i 's/"
              + sedPart(regexp)
              + "/"
              + sedPart(text)
              + "/g' "
              + shellWord(file));
    }

    private static String sedPart(String s) {
      return s.replace("/", "\\/").replace("'", "'\\''");
    }

    static String shellWord(String s) {
      if (!s.isEmpty() && s.matches("[A-Za-z0-9_./@%+=:,-]+")) {
        return s;
      }
      return "'" + s.replace("'", "'\\''") + "'";
    }
  }

  /** {@code delete: PATH}: virt-customize's {@code delete} (recursive). */
  record Delete(String path) implements Task {
    @Override
    public List<String> lines() {
      return List.of("delete " + path);
    }
  }

  /**
   * {@code password: {user, password}} or {@code {user, disabled: true}}: a virt-customize {@code
   * --password} option, applied by virt-customize after every other step.
   *
   * @param password the password, or null when disabled
   */
  record Password(String user, String password) implements Task {
    @Override
    public List<String> lines() {
      return List.of();
    }

    public boolean disabled() {
      return password == null;
    }

    /** The selector as Cangallo passes it ({@code root:password:secret}); for display, not argv. */
    public String selector() {
      return user + (disabled() ? ":disabled" : ":password:" + password);
    }
  }
}
