package dev.qcow2.tools.cli;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.LongConsumer;

/**
 * qemu-img's {@code -p} progress, " (12.34/100%)" redrawn with a carriage return, printed each time
 * the job advances by at least one percent (qemu's min_skip) and once more at the end.
 */
public final class ProgressBar implements LongConsumer {
  private final PrintStream out;
  private final long total;
  private double shown = -1;

  public ProgressBar(PrintStream out, long total) {
    this.out = out;
    this.total = total;
  }

  /** Called with bytes done; the library calls it from one thread at a time. */
  @Override
  public synchronized void accept(long done) {
    double percent = total == 0 ? 100.0 : Math.min(100.0, done * 100.0 / total);
    if (shown < 0 || percent - shown >= 1.0 || (percent == 100.0 && shown != 100.0)) {
      shown = percent;
      out.print(String.format(Locale.ROOT, "    (%3.2f/100%%)\r", percent));
      out.flush();
    }
  }

  /** Draws 100% and ends the line, as qemu_progress_end does. */
  public synchronized void finish() {
    accept(total);
    out.print("\n");
    out.flush();
  }
}
