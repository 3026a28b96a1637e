package dev.qcow2.internal.parallel;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The thread-pool habits of the parallel engines (conversion, hashing): daemon threads named for
 * their job, a worker's failure rethrown as it was, and pools that are stopped, never interrupted,
 * since an interrupt in the middle of a read closes the channel of an image the caller owns.
 */
public final class Workers {
  private Workers() {}

  /** Daemon threads named {@code prefix-1}, {@code prefix-2}, ... */
  public static ThreadFactory named(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }

  /**
   * The result of a worker's task, its failure rethrown as it was; an interrupt of the waiting
   * thread becomes an {@link InterruptedIOException} saying that {@code job} was interrupted.
   */
  public static <T> T await(Future<T> f, String job) throws IOException {
    try {
      return f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException(job + " interrupted");
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof IOException io) {
        throw io;
      }
      if (c instanceof RuntimeException re) {
        throw re;
      }
      if (c instanceof Error err) {
        throw err;
      }
      throw new IOException(c);
    }
  }

  /**
   * Stops {@code pool} without interrupting its threads (tasks already queued still run) and waits
   * until every one has stopped, even if this thread is interrupted meanwhile (the interrupt is
   * kept for the caller).
   */
  public static void stop(ExecutorService pool) {
    pool.shutdown();
    boolean interrupted = false;
    while (true) {
      try {
        if (pool.awaitTermination(1, TimeUnit.MINUTES)) {
          break;
        }
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }
}
