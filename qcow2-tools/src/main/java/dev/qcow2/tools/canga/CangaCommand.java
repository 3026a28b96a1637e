package dev.qcow2.tools.canga;

import dev.qcow2.tools.cli.Colour;
import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.Repositories;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * What every verb shares: the parent command (configuration), the output streams, and the mapping
 * of {@link CangaException} to one line on standard error and exit status 255.
 */
abstract class CangaCommand implements Callable<Integer> {
  static final int HANDLED_ERROR = 255;

  @Spec CommandSpec spec;

  private PrintStream out;
  private PrintStream err;

  @Override
  public final Integer call() throws Exception {
    try {
      return run();
    } catch (CangaException e) {
      err().print(e.getMessage() + "\n");
      return HANDLED_ERROR;
    } finally {
      if (out != null) {
        out.flush();
      }
      if (err != null) {
        err.flush();
      }
    }
  }

  /** The verb's work; returns the exit status. */
  abstract int run() throws Exception;

  Repositories repos() throws IOException {
    return cli().repositories();
  }

  /** The top command (configuration, environment), however deep this verb is nested. */
  CangaCli cli() {
    CommandSpec s = spec;
    while (s != null && !(s.userObject() instanceof CangaCli)) {
      s = s.parent();
    }
    if (s == null) {
      throw new IllegalStateException("not run under canga");
    }
    return (CangaCli) s.userObject();
  }

  Colour colour() {
    return cli().colour();
  }

  PrintStream out() {
    if (out == null) {
      out = stream(spec.commandLine().getOut());
    }
    return out;
  }

  PrintStream err() {
    if (err == null) {
      err = stream(spec.commandLine().getErr());
    }
    return err;
  }

  /** A PrintStream over picocli's writer (the library APIs print to streams). */
  private static PrintStream stream(PrintWriter writer) {
    return new PrintStream(new WriterOutput(writer), false, StandardCharsets.UTF_8);
  }

  /** UTF-8 bytes to a writer, decoded incrementally so a character split across writes survives. */
  private static final class WriterOutput extends OutputStream {
    private final PrintWriter writer;
    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder();
    private final ByteBuffer pending = ByteBuffer.allocate(8192);
    private final CharBuffer chars = CharBuffer.allocate(8192);

    WriterOutput(PrintWriter writer) {
      this.writer = writer;
    }

    @Override
    public void write(int b) {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public synchronized void write(byte[] b, int off, int len) {
      int at = off;
      while (at < off + len) {
        int n = Math.min(pending.remaining(), off + len - at);
        pending.put(b, at, n);
        at += n;
        drain();
      }
    }

    private void drain() {
      pending.flip();
      CoderResult r;
      do {
        r = decoder.decode(pending, chars, false);
        chars.flip();
        writer.append(chars);
        chars.clear();
      } while (r.isOverflow());
      pending.compact();
    }

    @Override
    public synchronized void flush() {
      writer.flush();
    }
  }
}
