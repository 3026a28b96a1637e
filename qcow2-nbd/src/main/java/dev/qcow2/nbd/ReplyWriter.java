package dev.qcow2.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The one thread that writes a connection's replies from the workers, in the order they are
 * finished, those finished together in one write. Workers hand their replies here instead of
 * writing them, so that a client that stops reading stalls only its own connection: its replies
 * wait in this queue, counted against the connection's bytes in flight, and the connection's reader
 * stops taking requests until they drain. The reader's own replies (requests it served itself) are
 * kept apart and written by the reader, several in one write, between this thread's writes.
 */
final class ReplyWriter implements Runnable {
  /** A reply and the bytes in flight it releases once sent. */
  private record Queued(Reply reply, int cost) {}

  private static final Queued END = new Queued(Reply.of(), 0);

  /** The most replies written in one system call. */
  private static final int MAX_BATCH = 32;

  private final Transport ch;
  private final Semaphore budget;
  private final BufferPool buffers;
  private final BlockingQueue<Queued> queue = new LinkedBlockingQueue<>();

  /** Replies the reading thread served itself and has not written yet; only it touches them. */
  private final List<Queued> own = new ArrayList<>(MAX_BATCH);

  private final List<ByteBuffer> ownOut = new ArrayList<>();

  /** Held while replies are written, so that the reader's and this thread's do not interleave. */
  private final ReentrantLock writing = new ReentrantLock();

  /** Requests accepted and not yet answered, plus one while the reader runs. */
  private final AtomicInteger pending = new AtomicInteger(1);

  private volatile boolean broken;

  ReplyWriter(Transport ch, Semaphore budget, BufferPool buffers) {
    this.ch = ch;
    this.budget = budget;
    this.buffers = buffers;
  }

  /** Counts a request that will be answered through {@link #send}. */
  void accepted() {
    pending.incrementAndGet();
  }

  /**
   * Queues the reply to an accepted request; {@code cost} bytes in flight are released once it is
   * sent.
   */
  void send(Reply reply, int cost) {
    queue.add(new Queued(reply, cost));
  }

  /**
   * Keeps the reply to a request the reading thread served itself (not counted by {@link
   * #accepted}); it goes out at the reader's next {@link #flushOwn}, or at once when MAX_BATCH of
   * them wait.
   */
  void sendOwn(Reply reply, int cost) {
    own.add(new Queued(reply, cost));
    if (own.size() == MAX_BATCH) {
      flushOwn();
    }
  }

  /**
   * Sends the reading thread's replies kept so far, in one write; called by the reader before it
   * may wait for the client or for bytes in flight, which those replies hold. Should this thread be
   * writing meanwhile (a large reply, or to a client slow to read), they join its queue instead:
   * the reader goes back to reading requests rather than wait for that write.
   */
  void flushOwn() {
    if (own.isEmpty()) {
      return;
    }
    if (writing.tryLock()) {
      try {
        write(own, ownOut);
      } finally {
        writing.unlock();
      }
      release(own);
    } else {
      pending.addAndGet(own.size());
      queue.addAll(own);
    }
    own.clear();
  }

  /** The reader takes no more requests: the writer ends once every accepted one is answered. */
  void readerDone() {
    if (pending.decrementAndGet() == 0) {
      queue.add(END);
    }
  }

  @Override
  public void run() {
    List<Queued> batch = new ArrayList<>(MAX_BATCH);
    List<ByteBuffer> out = new ArrayList<>();
    try {
      while (true) {
        batch.add(queue.take());
        queue.drainTo(batch, MAX_BATCH - 1);
        boolean end = batch.get(batch.size() - 1) == END;
        if (end) {
          batch.remove(batch.size() - 1);
        }
        writing.lock();
        try {
          write(batch, out);
        } finally {
          writing.unlock();
        }
        release(batch);
        if (end || pending.addAndGet(-batch.size()) == 0) {
          return;
        }
        batch.clear();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void release(List<Queued> sent) {
    for (Queued q : sent) {
      buffers.give(q.reply().pooled());
      budget.release(q.cost());
    }
  }

  /**
   * Writes the replies finished meanwhile in one gathering write: under many small requests that is
   * one system call for several replies rather than one each.
   */
  private void write(List<Queued> batch, List<ByteBuffer> out) {
    if (broken || batch.isEmpty()) {
      return;
    }
    out.clear();
    for (Queued q : batch) {
      for (ByteBuffer b : q.reply().buffers()) {
        out.add(b);
      }
    }
    try {
      ch.writeFully(out.toArray(new ByteBuffer[0]));
    } catch (IOException e) {
      // The client is gone; the reader sees the closed channel. Later replies are dropped.
      broken = true;
      closeQuietly();
    }
  }

  private void closeQuietly() {
    try {
      ch.close();
    } catch (IOException ignored) {
      // Closing a socket that already failed: nothing more to learn.
    }
  }
}
