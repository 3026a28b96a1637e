package dev.qcow2.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One client: its handshake, then its transmission phase. This thread reads requests and hands them
 * to the shared workers; each reply goes out through the connection's {@link ReplyWriter} as soon
 * as its request is done, so replies may overtake one another as the spec allows. The connection
 * stops reading while its requests and unsent replies hold {@link ServerOptions#maxBytesInFlight()}
 * bytes.
 *
 * <p>Small reads of data stored plainly are served by this thread itself ({@link Commands#quick}):
 * handing a 4 KiB read to a worker and its reply to the writer costs two thread wake-ups, more than
 * the read. Their replies wait until the requests already received are served, then go out together
 * in one write, before this thread may wait for the client or for bytes in flight. Should such a
 * read be slow (the data is not in the page cache, or lies behind a remote backing file), the next
 * reads go to the workers again, which serve many at once.
 */
final class Connection implements Runnable {
  /** What a request costs in flight beyond its data: the request, its reply headers, the task. */
  private static final int REQUEST_COST = 4096;

  /** How long a disconnecting client's outstanding replies may take to be written. */
  private static final long DRAIN_SECONDS = 30;

  /**
   * When this many of the last 16 reads this thread served were slow ({@link
   * ServerOptions#slowReadNanos()}), or one was {@link #STALL} times that slow, the next {@link
   * #SLOW_HOLD} small reads go to the workers.
   */
  private static final int SLOW_COUNT = 4;

  /**
   * A read this many times slower than slow (a millisecond by default) waited for a disk: even when
   * few reads do (pages the kernel evicted), each such wait on this thread stalls every request
   * behind it, where workers would wait for several at once.
   */
  private static final long STALL = 20;

  private static final int SLOW_HOLD = 1024;

  private static final int HANDSHAKE = 0;
  private static final int TRANSMISSION = 1;
  private static final int TIMED_OUT = 2;

  private final Transport ch;
  private final Export export;
  private final ServerOptions options;
  private final Executor workers;
  private final BufferPool buffers;
  private final Runnable onClose;
  private final AtomicInteger state = new AtomicInteger(HANDSHAKE);

  /** Which of the last 16 reads this thread served were slow, one bit each. */
  private int slowReads;

  /** How many more small reads go to the workers since this thread's reads were found slow. */
  private int slowHold;

  Connection(
      Transport ch,
      Export export,
      ServerOptions options,
      Executor workers,
      BufferPool buffers,
      Runnable onClose) {
    this.ch = ch;
    this.export = export;
    this.options = options;
    this.workers = workers;
    this.buffers = buffers;
    this.onClose = onClose;
  }

  /** The handshake time limit has passed: a client still negotiating is dropped. */
  void handshakeExpired() {
    if (state.compareAndSet(HANDSHAKE, TIMED_OUT)) {
      close();
    }
  }

  /** Ends the connection from outside (server shutdown): blocked reads and writes fail at once. */
  void close() {
    try {
      ch.close();
    } catch (IOException ignored) {
      // Nothing is left to do with a socket that fails to close.
    }
  }

  @Override
  public void run() {
    try {
      Handshake.Session session = Handshake.negotiate(ch, export, options);
      if (session != null && state.compareAndSet(HANDSHAKE, TRANSMISSION)) {
        transmit(session);
      }
    } catch (IOException | RuntimeException e) {
      // The client left, broke the protocol or was timed out: only its own connection ends.
    } finally {
      close();
      onClose.run();
    }
  }

  private void transmit(Handshake.Session session) throws IOException {
    Semaphore budget = new Semaphore((int) Math.min(options.maxBytesInFlight(), Integer.MAX_VALUE));
    ReplyWriter writer = new ReplyWriter(ch, budget, buffers);
    Thread writerThread = new Thread(writer, Thread.currentThread().getName() + "-replies");
    writerThread.setDaemon(true);
    writerThread.start();
    Commands commands = new Commands(export, session, buffers);
    ByteBuffer head = ByteBuffer.allocate(28);
    ch.readAhead();
    try {
      while (true) {
        head.clear();
        if (!ch.buffered(head.capacity())) {
          writer.flushOwn();
        }
        if (!readHeader(head)) {
          return;
        }
        int magic = head.getInt();
        if (magic != Nbd.REQUEST_MAGIC) {
          throw new ProtocolException("request magic 0x" + Integer.toHexString(magic));
        }
        int flags = head.getShort() & 0xffff;
        int type = head.getShort() & 0xffff;
        long cookie = head.getLong();
        long offset = head.getLong();
        long length = head.getInt() & 0xffffffffL;
        if (type == Nbd.CMD_DISC) {
          return;
        }
        boolean payload = type == Nbd.CMD_WRITE;
        if (payload && length > Nbd.MAX_PAYLOAD) {
          // The payload cannot be skipped cheaply: refuse the write, then hang up.
          writer.flushOwn();
          budget.acquireUninterruptibly(REQUEST_COST);
          writer.accepted();
          writer.send(Reply.of(Replies.simple(cookie, Nbd.EINVAL)), REQUEST_COST);
          throw new ProtocolException(
              "write of " + length + " bytes, more than " + Nbd.MAX_PAYLOAD);
        }
        boolean data = payload || (type == Nbd.CMD_READ && length <= Nbd.MAX_PAYLOAD);
        int cost = REQUEST_COST + (data ? (int) length : 0);
        if (!budget.tryAcquire(cost)) {
          // The replies this thread holds count too: they go out before it waits for the rest.
          writer.flushOwn();
          budget.acquireUninterruptibly(cost);
        }
        ByteBuffer bytes = null;
        if (payload) {
          if (!ch.buffered((int) length)) {
            writer.flushOwn();
          }
          bytes = buffers.take((int) length);
          try {
            ch.readFully(bytes);
          } catch (IOException e) {
            buffers.give(bytes);
            throw e;
          }
          bytes.flip();
        }
        Request r = new Request(flags, type, cookie, offset, length, bytes);
        dispatch(commands, writer, r, cost);
      }
    } finally {
      writer.flushOwn();
      writer.readerDone();
      try {
        writerThread.join(TimeUnit.SECONDS.toMillis(DRAIN_SECONDS));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** Reads a request header; false if the client hung up cleanly between requests. */
  private boolean readHeader(ByteBuffer head) throws IOException {
    try {
      ch.readFully(head);
    } catch (EOFException e) {
      if (head.position() == 0) {
        return false;
      }
      throw e;
    }
    head.flip();
    return true;
  }

  private void dispatch(Commands commands, ReplyWriter writer, Request r, int cost) {
    int refusal = commands.refusal(r);
    if (refusal == 0 && serveHere(commands, writer, r, cost)) {
      return;
    }
    writer.accepted();
    if (refusal != 0) {
      buffers.give(r.payload());
      writer.send(
          commands.error(
              r,
              refusal,
              "request refused (type "
                  + r.type()
                  + ", offset "
                  + r.offset()
                  + ", length "
                  + r.length()
                  + ", flags 0x"
                  + Integer.toHexString(r.flags())
                  + ")"),
          cost);
      return;
    }
    try {
      workers.execute(() -> writer.send(commands.run(r), cost));
    } catch (RejectedExecutionException e) {
      buffers.give(r.payload());
      writer.send(commands.error(r, Nbd.ESHUTDOWN, "server is shutting down"), cost);
    }
  }

  /** Serves {@code r} on this thread if it is a quick read; false if a worker must. */
  private boolean serveHere(Commands commands, ReplyWriter writer, Request r, int cost) {
    if (r.type() != Nbd.CMD_READ || r.length() > Commands.QUICK_READ) {
      return false;
    }
    if (slowHold > 0) {
      slowHold--;
      return false;
    }
    long start = System.nanoTime();
    Reply reply = commands.quick(r);
    long took = System.nanoTime() - start;
    // A slow read was answered by storage, not memory (or this thread was preempted, as happens
    // now and then on a busy machine: hence a count, not one read).
    long slow = options.slowReadNanos();
    slowReads = (slowReads << 1 | (took > slow ? 1 : 0)) & 0xffff;
    if (Integer.bitCount(slowReads) >= SLOW_COUNT || took / STALL > slow) {
      slowReads = 0;
      slowHold = SLOW_HOLD;
    }
    if (reply == null) {
      return false;
    }
    writer.sendOwn(reply, cost);
    return true;
  }
}
