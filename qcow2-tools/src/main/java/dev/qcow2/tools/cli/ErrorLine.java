package dev.qcow2.tools.cli;

import dev.qcow2.Qcow2Exception;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import picocli.CommandLine;

/** The one line a user sees for a failure, after {@code <command>: }, as qemu-img words it. */
public final class ErrorLine {
  private ErrorLine() {}

  public static String describe(Exception e) {
    if (e instanceof UsageException
        || e instanceof CommandLine.ParameterException
        || e instanceof CommandLine.TypeConversionException) {
      // A TypeConversionException is one of ours too: SizeParser's, called from a command's work.
      return e.getMessage();
    }
    if (e instanceof Qcow2Exception) {
      // Already "<image>: <structure> <problem> at offset 0x..".
      return e.getMessage();
    }
    if (e instanceof FileSystemException fse) {
      if (fse.getReason() != null) {
        return fse.getReason();
      }
      String why =
          e instanceof NoSuchFileException
              ? "No such file or directory"
              : e instanceof AccessDeniedException
                  ? "Permission denied"
                  : e.getClass().getSimpleName();
      return "Could not open '" + fse.getFile() + "': " + why;
    }
    if (e instanceof IOException
        || e instanceof IllegalArgumentException
        || e instanceof IllegalStateException
        || e instanceof UnsupportedOperationException) {
      return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }
    // A bug of ours: say what it was even without --debug.
    return "internal error: " + e;
  }
}
